# ssdk/routing/paths.py: route path patterns: `/a/{b}/{c:int}` parsed, expanded for one
# set of values, and matched against a concrete path.
#
# Owns: PathPattern, parse_path and RouteError.
# Invariants: parsing never touches a file; a pattern that cannot be built raises
# RouteError, which the build reports with the declaration's file and line.
from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ssdk.routing.convertors import CONVERTOR_TYPES, Convertor

_PARAM = re.compile(r"\{([^{}]*)\}")


class RouteError(ValueError):
    """A declaration that cannot be built; the build adds route, file and line."""


@dataclass(frozen=True)
class PathPattern:
    """A parsed route pattern: literal text and `{name:type}` parameters, in order."""

    pattern: str
    parts: tuple[str | tuple[str, Convertor[Any]], ...]
    names: tuple[str, ...]
    regex: re.Pattern[str]

    def expand(self, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The concrete (unquoted) path for one set of values, and the handler's kwargs.

        A value may be given as text (checked against the converter's regex) or as the
        converted type (turned into text by the converter first).
        """
        given = set(values)
        wanted = set(self.names)
        if given != wanted:
            problems = []
            if wanted - given:
                problems.append("missing " + ", ".join(sorted(wanted - given)))
            if given - wanted:
                problems.append("unexpected " + ", ".join(sorted(map(str, given - wanted))))
            raise RouteError(f"params {dict(values)!r}: {'; '.join(problems)}")
        out: list[str] = []
        kwargs: dict[str, Any] = {}
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            name, conv = part
            value = values[name]
            try:
                text = value if isinstance(value, str) else conv.to_string(value)
            except (ValueError, TypeError, AssertionError) as e:
                raise RouteError(f"param {name}={value!r} rejected by its converter: {e}") from e
            if re.fullmatch(conv.regex, text) is None:
                raise RouteError(
                    f"param {name}={value!r} does not match {{{name}}}'s pattern {conv.regex}"
                )
            try:
                kwargs[name] = conv.convert(text)
            except (ValueError, TypeError) as e:
                raise RouteError(f"param {name}={value!r} rejected by its converter: {e}") from e
            out.append(text)
        return "".join(out), kwargs

    def match(self, path: str) -> dict[str, Any] | None:
        """The converted parameters if `path` (unquoted) matches this pattern."""
        m = self.regex.fullmatch(path)
        if m is None:
            return None
        convs = {p[0]: p[1] for p in self.parts if not isinstance(p, str)}
        return {k: convs[k].convert(v) for k, v in m.groupdict().items()}


def parse_path(pattern: str) -> PathPattern:
    """Parse `/a/{b}/{c:int}`; raises RouteError for a malformed pattern."""
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise RouteError(f"path pattern {pattern!r} must start with '/'")
    if "?" in pattern or "#" in pattern:
        raise RouteError(f"path pattern {pattern!r} may not contain '?' or '#'")
    parts: list[str | tuple[str, Convertor[Any]]] = []
    names: list[str] = []
    regex = ["^"]
    pos = 0
    for m in itertools.chain(_PARAM.finditer(pattern), [None]):
        literal = pattern[pos : m.start() if m else len(pattern)]
        if "{" in literal or "}" in literal:
            raise RouteError(f"path pattern {pattern!r} has an unbalanced '{{' or '}}'")
        if literal:
            parts.append(literal)
            regex.append(re.escape(literal))
        if m is None:
            break
        name, _, kind = m.group(1).partition(":")
        kind = kind or "str"
        if not name.isidentifier():
            raise RouteError(f"path pattern {pattern!r}: {{{m.group(1)}}} needs a name")
        if kind not in CONVERTOR_TYPES:
            known = ", ".join(sorted(CONVERTOR_TYPES))
            raise RouteError(f"path pattern {pattern!r}: unknown converter '{kind}' ({known})")
        if name in names:
            raise RouteError(f"path pattern {pattern!r}: parameter '{name}' appears twice")
        conv = CONVERTOR_TYPES[kind]
        parts.append((name, conv))
        names.append(name)
        regex.append(f"(?P<{name}>{conv.regex})")
        pos = m.end()
    regex.append("$")
    return PathPattern(pattern, tuple(parts), tuple(names), re.compile("".join(regex)))
