# ssdk/routing/app.py: App, the declarations it records (Route, Static, ErrorPage, Dynamic)
# and its virtual hosts.
#
# Owns: what the developer declares, with the file and line of each declaration.
# Invariants: declaring never raises for a bad pattern, a duplicate path or a missing
# folder: the build (ssdk.core.buildtime.build) checks every declaration in order and reports the
# first problem with its location, so the same error comes out however the app is loaded.
# No I/O happens here: static folders are only resolved to absolute paths.
from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssdk.routing.paths import PathPattern, RouteError, parse_path

__all__ = [
    "App",
    "Dynamic",
    "ErrorPage",
    "Location",
    "PathPattern",
    "Route",
    "RouteError",
    "Static",
    "VirtualHost",
    "parse_path",
]

# Order of declaration across every App; used to report the later of two colliding ones.
_sequence = itertools.count()


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
    headers: dict[str, str] = field(default_factory=dict)  # added to every response
    cache_control: str | None = None

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
    """A folder whose files are served as-is below a URL prefix; a folder holding an
    `index` file is served at its path with a slash (and redirected to it without)."""

    prefix: str
    directory: Path
    location: Location
    seq: int = field(default_factory=lambda: next(_sequence))
    headers: dict[str, str] = field(default_factory=dict)  # added to every response
    cache_control: str | None = None
    index: str | None = "index.html"

    def __repr__(self) -> str:
        return f"<Static {self.prefix!r} -> {str(self.directory)!r} at {self.location}>"


# The statuses ssdk answers on its own with a page (docs/http.md), and 416.
ERROR_STATUSES = frozenset({400, 404, 405, 408, 411, 413, 414, 416, 417, 431, 501, 505})


@dataclass(eq=False)
class ErrorPage:
    """An `@app.error(status)` handler: rendered at build time, the page the server
    sends whenever it answers that status on its own."""

    status: int
    handler: Callable[[], Any]
    location: Location

    @property
    def name(self) -> str:
        return getattr(self.handler, "__name__", repr(self.handler))

    def __repr__(self) -> str:
        return f"<ErrorPage {self.status} -> {self.name} at {self.location}>"


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


SERVER = "ssdk"  # the Server header's value unless App(server=...) says otherwise


class App:
    """The application: every page, static folder and dynamic route it serves.

    `server` is the value of the Server header of every response (None: no Server
    header). Pages and folders declared on `app.host(name)` are served only for that
    Host; those declared here for every other one.
    """

    def __init__(self, *, server: str | None = SERVER) -> None:
        if server is not None and (
            not isinstance(server, str)
            or not server.strip()
            or server != server.strip()
            or not server.isprintable()
            or not server.isascii()
        ):
            raise ValueError(f"server={server!r}: a printable ASCII product name, or None")
        self.server = server
        self.routes: list[Route] = []
        self.statics: list[Static] = []
        self.dynamics: list[Dynamic] = []
        self.errors: list[ErrorPage] = []
        self.hosts: list[VirtualHost] = []
        self.refreshes: list[str] = []  # paths asked for by refresh(), drained by the server

    def page(
        self,
        path: str,
        *,
        revalidate: float | None = None,
        headers: Mapping[str, str] | None = None,
        cache_control: str | None = None,
    ) -> Callable[[Callable[..., Any]], Route]:
        """Declare a page rendered at build time; use as `@app.page("/path/{param}")`.

        `revalidate` (seconds) is kept for the server, which re-renders such pages; the
        build renders every page once either way. `headers` are added to every response
        of the page (a header the handler's Response sets wins); `cache_control` is the
        Cache-Control header's value.
        """
        where = _caller(1)

        def decorate(handler: Callable[..., Any]) -> Route:
            if not callable(handler):
                raise TypeError(f"@app.page({path!r}) decorates a function")
            route = Route(
                path,
                handler,
                where,
                revalidate,
                headers=dict(headers or {}),
                cache_control=cache_control,
            )
            self.routes.append(route)
            return route

        return decorate

    def static(
        self,
        prefix: str,
        directory: str | Path,
        *,
        headers: Mapping[str, str] | None = None,
        cache_control: str | None = None,
        index: str | None = "index.html",
    ) -> Static:
        """Serve every file below `directory` (relative to the calling file) at `prefix`.

        `headers` and `cache_control` go on every response of the folder. A folder that
        holds a file named `index` (None: none does) is also served at its own path with
        a trailing slash, and its path without one is a 301 to that.
        """
        where = _caller(1)
        folder = Path(directory)
        if not folder.is_absolute():
            # Interactive and exec'd code has no file; fall back to the working directory.
            base = Path.cwd() if where.file.startswith("<") else Path(where.file).parent
            folder = base / folder
        static = Static(
            prefix,
            folder,
            where,
            headers=dict(headers or {}),
            cache_control=cache_control,
            index=index,
        )
        self.statics.append(static)
        return static

    def error(self, status: int) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Declare the page for an error ssdk answers on its own: `@app.error(404)`.

        The handler takes no arguments and returns what a page may return; its body,
        content type and headers are sent with `status` (ssdk keeps its own Allow,
        Connection and Content-Length). Rendered at build time, like a page.
        """
        where = _caller(1)

        def decorate(handler: Callable[[], Any]) -> Callable[[], Any]:
            if not callable(handler):
                raise TypeError(f"@app.error({status!r}) decorates a function")
            self.errors.append(ErrorPage(status, handler, where))
            return handler

        return decorate

    def host(self, name: str, *aliases: str) -> VirtualHost:
        """A virtual host: the pages, folders and error pages declared on what this
        returns are served for requests whose Host is `name` or an alias (case and port
        do not matter), and only for those."""
        vhost = VirtualHost(self, (name, *aliases), _caller(1))
        self.hosts.append(vhost)
        return vhost

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
        return (
            f"<App {len(self.routes)} pages, {len(self.statics)} static folders, "
            f"{len(self.dynamics)} dynamic routes, "
            f"{len(self.hosts)} virtual hosts>"
        )


class VirtualHost(App):
    """The pages, folders and error pages of one virtual host (`app.host(name)`). Error
    pages it does not declare are its app's; its Server header is its app's."""

    def __init__(self, parent: App, names: tuple[str, ...], location: Location) -> None:
        super().__init__(server=parent.server)
        self.parent = parent
        self.names = names
        self.location = location

    def host(self, name: str, *aliases: str) -> VirtualHost:
        raise TypeError("a virtual host has no virtual hosts of its own")

    def dynamic(self, path: str, **options: Any) -> Callable[[Callable[..., Any]], Dynamic]:
        raise TypeError("dynamic routes are declared on the app, for every host")

    def __repr__(self) -> str:
        return (
            f"<VirtualHost {', '.join(self.names)}: {len(self.routes)} pages, "
            f"{len(self.statics)} static folders>"
        )
