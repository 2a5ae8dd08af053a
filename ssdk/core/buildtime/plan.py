# ssdk/core/buildtime/plan.py: every path one host of an app serves, before anything is rendered:
# pages once per set of parameters, static files, the index files of folders and the
# redirects to them.
#
# build.py (concrete_responses) -> plan -> plan_page (params functions)
#                                       -> plan_static (folder listings)
#
# Owns: the order paths are planned in (declaration order; a folder's files sorted), and
# the problems found while planning, each located at its declaration.
# Invariants: planning calls params functions and lists folders but renders nothing; a
# problem is returned with everything planned before it, so the build can report the
# error a path-by-path build would have met first.
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssdk.core.buildtime.errors import BuildError, located, raised
from ssdk.routing.app import App, Location, Route, Static
from ssdk.routing.paths import RouteError, parse_path


@dataclass
class Planned:
    """A path to render: a page with its handler's arguments, a static file, or a
    redirect of a folder's path to the same with a slash."""

    decl: Route | Static
    where: Location
    path: str  # unquoted
    kwargs: dict[str, Any]
    file: Path | None = None
    redirect: str | None = None  # a 301 to this (unquoted) path


def plan_page(route: Route) -> Iterator[Planned]:
    """The paths of a page: one, or one per dict its params function yields."""
    try:
        pattern = route.pattern()
    except RouteError as e:
        raise located(route, str(e)) from None
    if len(route.sources) > 1:
        raise located(route, "has more than one @params function", route.sources[1].location)
    if not route.sources:
        if pattern.names:
            names = ", ".join(pattern.names)
            raise located(route, f"has parameters ({names}) but no @{route.name}.params")
        path, _ = pattern.expand({})
        yield Planned(route, route.location, path, {})
        return
    src = route.sources[0]
    try:
        result = src.fn()
    except Exception as e:
        raise located(route, f"params function raised {raised(e)}", src.location) from e
    try:
        values = iter(result)
    except TypeError:
        msg = f"params function returned {type(result).__name__}, not an iterable of dicts"
        raise located(route, msg, src.location) from None
    while True:
        try:
            item = next(values)
        except StopIteration:
            return
        except Exception as e:
            raise located(route, f"params function raised {raised(e)}", src.location) from e
        if not isinstance(item, Mapping):
            raise located(route, f"params yielded {item!r}, not a dict", src.location)
        try:
            path, kwargs = pattern.expand(item)
        except RouteError as e:
            raise located(route, str(e), src.location) from None
        yield Planned(route, src.location, path, kwargs)


def plan_static(static: Static) -> Iterator[Planned]:
    """Every file below the folder, at the prefix; a folder holding the index file is
    also served at its path with a slash, and its path without one redirects there."""
    try:
        pattern = parse_path(static.prefix)
    except RouteError as e:
        raise located(static, f"static prefix: {e}") from None
    if pattern.names:
        raise located(static, f"static prefix {static.prefix!r} must be a plain '/path'")
    if not static.directory.is_dir():
        raise located(static, f"static folder {str(static.directory)!r} does not exist")
    index = static.index
    if index is not None and (not index or "/" in index or index in (".", "..")):
        raise located(static, f"index={index!r} is not a file name")
    base = static.prefix.rstrip("/")
    for folder, dirs, files in os.walk(static.directory):
        dirs.sort()
        rel = Path(folder).relative_to(static.directory).as_posix()
        url = base if rel == "." else f"{base}/{rel}"
        if index is not None and index in files:
            if url:  # "/dir" -> "/dir/" (RFC 9110 15.4.2); the root of "/" has no such path
                yield Planned(static, static.location, url, {}, redirect=f"{url}/")
            yield Planned(static, static.location, f"{url}/", {}, Path(folder, index))
        for name in sorted(files):
            file = Path(folder, name)
            yield Planned(static, static.location, f"{url}/{name}", {}, file)


def plan(app: App) -> tuple[list[Planned], BuildError | None]:
    """Every path of one host in declaration order, up to the first problem, and that
    problem."""
    planned: list[Planned] = []
    seen_patterns: dict[str, Route] = {}
    try:
        for decl in app.declarations():
            if isinstance(decl, Route):
                first = seen_patterns.setdefault(decl.path, decl)
                if first is not decl:
                    raise located(decl, f"path is already declared at {first.location}")
            for p in plan_page(decl) if isinstance(decl, Route) else plan_static(decl):
                planned.append(p)
    except BuildError as e:
        return planned, e
    return planned, None
