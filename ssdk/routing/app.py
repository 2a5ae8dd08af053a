# ssdk/routing/app.py: App, the declarations it records (Route, Static) and path patterns.
#
# Owns: what the developer declares, with the file and line of each declaration.
# Invariants: declaring never raises for a bad pattern, a duplicate path or a missing
# folder: the build (ssdk.core.build) checks every declaration in order and reports the
# first problem with its location, so the same error comes out however the app is loaded.
# No I/O happens here: static folders are only resolved to absolute paths.
from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssdk.routing.convertors import CONVERTOR_TYPES, Convertor

# Order of declaration across every App; used to report the later of two colliding ones.
_sequence = itertools.count()

_PARAM = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Location:
    """Where a declaration is in the developer's source."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def _caller(depth: int) -> Location:
    # depth counts frames above the function that calls _caller.
    frame = sys._getframe(depth + 1)
    return Location(frame.f_code.co_filename, frame.f_lineno)


def _function_location(fn: Callable[..., Any]) -> Location | None:
    # co_firstlineno is the first decorator's line, the same on every Python since 3.8.
    code = getattr(fn, "__code__", None)
    return Location(code.co_filename, code.co_firstlineno) if code is not None else None


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


@dataclass(frozen=True)
class ParamsSource:
    """A `@route.params` function and where it was declared."""

    fn: Callable[[], Iterable[Mapping[str, Any]]]
    location: Location


@dataclass(eq=False)
class Route:
    """A page: a handler rendered at build time, once per set of path parameters."""

    path: str
    handler: Callable[..., Any]
    location: Location
    revalidate: float | None = None
    sources: list[ParamsSource] = field(default_factory=list)
    seq: int = field(default_factory=lambda: next(_sequence))

    @property
    def name(self) -> str:
        return getattr(self.handler, "__name__", repr(self.handler))

    def params(self, fn: Callable[[], Iterable[Mapping[str, Any]]]) -> Callable[..., Any]:
        """Declare the function whose dicts give every value of the path parameters."""
        if not callable(fn):
            raise TypeError("@route.params decorates a function that yields dicts")
        where = _function_location(fn) or _caller(1)
        self.sources.append(ParamsSource(fn, where))
        return fn

    def pattern(self) -> PathPattern:
        return parse_path(self.path)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.handler(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Route {self.path!r} -> {self.name} at {self.location}>"


@dataclass(eq=False)
class Static:
    """A folder whose files are served as-is below a URL prefix."""

    prefix: str
    directory: Path
    location: Location
    seq: int = field(default_factory=lambda: next(_sequence))

    def __repr__(self) -> str:
        return f"<Static {self.prefix!r} -> {str(self.directory)!r} at {self.location}>"


# Methods a dynamic route may take; HEAD comes with GET (RFC 9110 9.3.2).
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
MAX_BODY = 1 << 20


@dataclass(eq=False)
class Dynamic:
    """A route whose handler the server calls for every request, with a Request."""

    path: str
    handler: Callable[..., Any]
    location: Location
    methods: tuple[str, ...]
    blocking: bool = False  # run in a thread pool, off the loop
    max_body: int = MAX_BODY  # request bodies beyond this get 413
    seq: int = field(default_factory=lambda: next(_sequence))

    @property
    def name(self) -> str:
        return getattr(self.handler, "__name__", repr(self.handler))

    def pattern(self) -> PathPattern:
        return parse_path(self.path)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.handler(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Dynamic {'|'.join(self.methods)} {self.path!r} -> {self.name} at {self.location}>"


class App:
    """The application: every page, static folder and dynamic route it serves."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.statics: list[Static] = []
        self.dynamics: list[Dynamic] = []
        self.refreshes: list[str] = []  # paths asked for by refresh(), drained by the server

    def page(
        self, path: str, *, revalidate: float | None = None
    ) -> Callable[[Callable[..., Any]], Route]:
        """Declare a page rendered at build time; use as `@app.page("/path/{param}")`.

        `revalidate` (seconds) is kept for the server, which re-renders such pages; the
        build renders every page once either way.
        """
        where = _caller(1)

        def decorate(handler: Callable[..., Any]) -> Route:
            if not callable(handler):
                raise TypeError(f"@app.page({path!r}) decorates a function")
            route = Route(path, handler, where, revalidate)
            self.routes.append(route)
            return route

        return decorate

    def static(self, prefix: str, directory: str | Path) -> Static:
        """Serve every file below `directory` (relative to the calling file) at `prefix`."""
        where = _caller(1)
        folder = Path(directory)
        if not folder.is_absolute():
            # Interactive and exec'd code has no file; fall back to the working directory.
            base = Path.cwd() if where.file.startswith("<") else Path(where.file).parent
            folder = base / folder
        static = Static(prefix, folder, where)
        self.statics.append(static)
        return static

    def dynamic(
        self,
        path: str,
        *,
        methods: Iterable[str] = ("GET",),
        blocking: bool = False,
        max_body: int = MAX_BODY,
    ) -> Callable[[Callable[..., Any]], Dynamic]:
        """Declare a route called per request: `@app.dynamic("/api/search")`.

        The handler takes a `Request` (path parameters in `req.params`) and returns what
        a page may return. `blocking=True` runs it in a thread pool so that a slow
        handler does not hold up the loop; `max_body` bounds request bodies (413 beyond).
        The build checks the declaration and reports problems with this file and line.
        """
        where = _caller(1)

        def decorate(handler: Callable[..., Any]) -> Dynamic:
            if not callable(handler):
                raise TypeError(f"@app.dynamic({path!r}) decorates a function")
            names = (methods,) if isinstance(methods, str) else tuple(methods)
            route = Dynamic(path, handler, where, names, blocking, max_body)
            self.dynamics.append(route)
            return route

        return decorate

    def refresh(self, path: str) -> None:
        """Ask the server to render the page at `path` again and publish it. Called from
        a dynamic handler (a webhook, say); the swap happens after the handler returns,
        and a response already on its way finishes with the bytes it started with."""
        self.refreshes.append(path)

    def declarations(self) -> list[Route | Static]:
        """Every route and static folder in the order they were declared."""
        both: list[Route | Static] = [*self.routes, *self.statics]
        return sorted(both, key=lambda d: d.seq)

    def __repr__(self) -> str:
        return (f"<App {len(self.routes)} pages, {len(self.statics)} static folders, "
                f"{len(self.dynamics)} dynamic routes>")  # fmt: skip
