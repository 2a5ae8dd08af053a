# ssdk/core/build.py: from an app (file) to a bundle: load, enumerate, lower, write.
#
# Owns: BuildError, loading app files, turning declarations into concrete responses,
# the special responses, and the manifest.
# Invariants: every problem a developer can cause surfaces as one BuildError carrying the
# file and line of the declaration at fault (the later one, for a collision); a build is
# deterministic: responses are laid out by route key, specials first.
#
# A build first plans every path (params functions, static folder listings), then
# renders them in the same order. The plan knows the total, so a large build can show a
# progress bar; a problem found while planning is held back until every path planned
# before it has rendered, so the error reported is the one a path-by-path build would
# have met first.
from __future__ import annotations

import hashlib
import importlib.util
import itertools
import os
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import ssdk
from ssdk.core import bundle as bf
from ssdk.core.bundle import Bundle, Manifest, RouteRow, Stream, read_bundle, write_bundle
from ssdk.core.http import SPECIALS, content_type_for, header_block
from ssdk.core.lower import nsegments
from ssdk.routing.app import App, Location, Route, RouteError, Static, parse_path
from ssdk.routing.responses import Response, to_response

# Characters left as they are in route keys (docs/bundle.md, "Route keys").
KEY_SAFE = "/:@!$&'()*+,;=-._~"
MSS_RANGE = (64, 1946)  # what the C core accepts: a segment fits a 2000-byte frame

_loads = itertools.count()


class BuildError(Exception):
    """A problem in the app, located at the declaration that causes it."""

    def __init__(self, route: str, file: str, line: int, message: str) -> None:
        self.route = route
        self.file = file
        self.line = line
        self.message = message
        super().__init__(f"{file}:{line}: route '{route}': {message}")


def _error(decl: Route | Static, message: str, where: Location | None = None) -> BuildError:
    name = decl.path if isinstance(decl, Route) else decl.prefix
    loc = where or decl.location
    return BuildError(str(name), loc.file, loc.line, message)


def _raised(e: BaseException) -> str:
    """`Type: message (at file:line)`, the line being where it was raised."""
    tb = traceback.extract_tb(e.__traceback__)
    at = f" (at {tb[-1].filename}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {e}{at}"


@dataclass
class Concrete:
    """One servable path with its rendered response."""

    key: str  # percent-encoded, as on the wire
    decl: Route | Static
    where: Location  # blamed if this path collides with an earlier one
    response: Response
    header: bytes
    conn_off: int
    origin: str


def _concrete(decl: Route | Static, where: Location, path: str, resp: Response) -> Concrete:
    if any(seg in (".", "..") for seg in path.split("/")):
        raise _error(decl, f"path {path!r} has a '.' or '..' segment, which clients remove", where)
    try:
        header, conn_off = header_block(
            resp.status, resp.content_type, len(resp.body), resp.headers
        )
    except ValueError as e:
        # The handler made this response, so blame it rather than the params function.
        raise _error(decl, f"response for {path!r}: {e}") from None
    origin = str(decl.location) if isinstance(decl, Route) else ""
    return Concrete(quote(path, safe=KEY_SAFE), decl, where, resp, header, conn_off, origin)


def _coerce(route: Route, value: object) -> Response:
    try:
        return to_response(value)
    except TypeError as e:
        raise _error(route, str(e)) from e


def _render(route: Route, kwargs: dict[str, Any]) -> Response:
    try:
        value = route.handler(**kwargs)
    except Exception as e:
        raise _error(route, f"handler {route.name}() raised {_raised(e)}") from e
    return _coerce(route, value)


@dataclass
class RouteStats:
    """What one declaration produced, for the build summary."""

    route: str  # the page's pattern, or the static folder's prefix
    kind: str  # "page" | "static"
    location: str  # file:line of the declaration
    paths: int = 0
    body_bytes: int = 0
    segments: int = 0  # of the GET responses
    seconds: float = 0.0  # rendering the pages, or reading the files
    decl: Route | Static | None = field(default=None, repr=False, compare=False)


@dataclass
class BuildStats:
    """Where a build's time and bytes went; filled in by build() and build_file()."""

    routes: list[RouteStats] = field(default_factory=list)
    load_s: float = 0.0  # importing the app file
    render_s: float = 0.0  # planning and rendering every path
    lower_s: float = 0.0  # header blocks, segments and their sums, the blob
    write_s: float = 0.0  # the bundle file

    @property
    def total_s(self) -> float:
        return self.load_s + self.render_s + self.lower_s + self.write_s


class Progress(Protocol):
    """Told how a build advances; `ssdk build` draws it as a bar on a terminal."""

    def start(self, paths: int, responses: int) -> None:
        """Every path is planned: `paths` to render, `responses` to lower in all."""

    def rendered(self, paths: int) -> None:
        """`paths` of them are rendered so far."""

    def lowering(self) -> None:
        """Rendering is done; the responses are being cut into segments."""


@dataclass
class _Planned:
    """A path to render: a page with its handler's arguments, or a static file."""

    decl: Route | Static
    where: Location
    path: str  # unquoted
    kwargs: dict[str, Any]
    file: Path | None = None


def _plan_page(route: Route) -> Iterator[_Planned]:
    try:
        pattern = route.pattern()
    except RouteError as e:
        raise _error(route, str(e)) from None
    if len(route.sources) > 1:
        raise _error(route, "has more than one @params function", route.sources[1].location)
    if not route.sources:
        if pattern.names:
            names = ", ".join(pattern.names)
            raise _error(route, f"has parameters ({names}) but no @{route.name}.params")
        path, _ = pattern.expand({})
        yield _Planned(route, route.location, path, {})
        return
    src = route.sources[0]
    try:
        result = src.fn()
    except Exception as e:
        raise _error(route, f"params function raised {_raised(e)}", src.location) from e
    try:
        values = iter(result)
    except TypeError:
        msg = f"params function returned {type(result).__name__}, not an iterable of dicts"
        raise _error(route, msg, src.location) from None
    while True:
        try:
            item = next(values)
        except StopIteration:
            return
        except Exception as e:
            raise _error(route, f"params function raised {_raised(e)}", src.location) from e
        if not isinstance(item, Mapping):
            raise _error(route, f"params yielded {item!r}, not a dict", src.location)
        try:
            path, kwargs = pattern.expand(item)
        except RouteError as e:
            raise _error(route, str(e), src.location) from None
        yield _Planned(route, src.location, path, kwargs)


def _plan_static(static: Static) -> Iterator[_Planned]:
    try:
        pattern = parse_path(static.prefix)
    except RouteError as e:
        raise _error(static, f"static prefix: {e}") from None
    if pattern.names:
        raise _error(static, f"static prefix {static.prefix!r} must be a plain '/path'")
    if not static.directory.is_dir():
        raise _error(static, f"static folder {str(static.directory)!r} does not exist")
    base = static.prefix.rstrip("/")
    for folder, dirs, files in os.walk(static.directory):
        dirs.sort()
        for name in sorted(files):
            file = Path(folder, name)
            rel = file.relative_to(static.directory).as_posix()
            yield _Planned(static, static.location, f"{base}/{rel}", {}, file)


def _plan(app: App) -> tuple[list[_Planned], BuildError | None]:
    """Every path in declaration order, up to the first problem, and that problem."""
    planned: list[_Planned] = []
    seen_patterns: dict[str, Route] = {}
    try:
        for decl in app.declarations():
            if isinstance(decl, Route):
                first = seen_patterns.setdefault(decl.path, decl)
                if first is not decl:
                    raise _error(decl, f"path is already declared at {first.location}")
            for p in _plan_page(decl) if isinstance(decl, Route) else _plan_static(decl):
                planned.append(p)
    except BuildError as e:
        return planned, e
    return planned, None


def _make(p: _Planned) -> Concrete:
    if p.file is None:
        assert isinstance(p.decl, Route)
        return _concrete(p.decl, p.where, p.path, _render(p.decl, p.kwargs))
    try:
        body = p.file.read_bytes()
    except OSError as e:
        raise _error(p.decl, f"cannot read {str(p.file)!r}: {e.strerror}") from None
    c = _concrete(p.decl, p.where, p.path, Response(body, content_type=content_type_for(p.file)))
    c.origin = str(p.file)
    return c


def render_route(route: Route) -> list[Concrete]:
    """Every response of one page, rendered now (revalidation); raises BuildError."""
    return [_make(p) for p in _plan_page(route)]


def _stats_of(decl: Route | Static) -> RouteStats:
    if isinstance(decl, Route):
        return RouteStats(decl.path, "page", str(decl.location), decl=decl)
    return RouteStats(decl.prefix, "static", str(decl.location), decl=decl)


def concrete_responses(
    app: App, progress: Progress | None = None, stats: BuildStats | None = None
) -> list[Concrete]:
    """Every servable path of `app`, checked for collisions, in declaration order."""
    planned, problem = _plan(app)
    if progress is not None:
        progress.start(len(planned), 2 * len(planned) + len(SPECIALS))
    per_decl: dict[int, RouteStats] = {}
    if stats is not None:
        for decl in app.declarations():
            row = per_decl[id(decl)] = _stats_of(decl)
            stats.routes.append(row)
    seen: dict[str, Concrete] = {}
    for n, p in enumerate(planned, 1):
        began = time.perf_counter()
        c = _make(p)
        if stats is not None:
            row = per_decl[id(p.decl)]
            row.seconds += time.perf_counter() - began
            row.paths += 1
            row.body_bytes += len(c.response.body)
        other = seen.setdefault(c.key, c)
        if other is not c:
            kind = "route" if isinstance(other.decl, Route) else "static folder"
            name = other.decl.path if isinstance(other.decl, Route) else other.decl.prefix
            raise _error(
                p.decl, f"path {c.key!r} is also served by {kind} '{name}' ({other.where})", c.where
            )
        if progress is not None:
            progress.rendered(n)
    if problem is not None:
        raise problem
    return list(seen.values())


def build(
    app: App,
    *,
    mss: int = 1448,
    source: str = "",
    progress: Progress | None = None,
    stats: BuildStats | None = None,
    concretes: list[Concrete] | None = None,
) -> tuple[Manifest, bytes]:
    """Render and lower every response of `app`; returns the manifest and the blob.

    `progress` is told how far it got; `stats`, if given, gets a row per declaration and
    the time spent rendering and lowering. `concretes`, if given, are the responses to
    lower instead of rendering them (revalidation keeps most and renders a few again).
    """
    if not isinstance(app, App):
        raise TypeError(f"build() needs an ssdk.App, not {type(app).__name__}")
    if not MSS_RANGE[0] <= mss <= MSS_RANGE[1]:
        raise ValueError(f"mss {mss} outside {MSS_RANGE[0]}..{MSS_RANGE[1]}")
    streams: list[Stream] = []
    specials: dict[int, int] = {}
    rows: list[RouteRow] = []
    for idx, sp in SPECIALS.items():
        header, conn_off = sp.render()
        body = sp.body()
        sent = b"" if sp.head else body
        specials[idx] = len(streams)
        flags = bf.RESP_CLOSE if sp.close else 0
        streams.append(Stream(header, sent, conn_off, sp.status, flags))
        segs = nsegments(len(header) + len(sent), mss)
        rows.append(RouteRow(sp.name, sp.status, sp.content_type, len(body), segs, "special"))
    began = time.perf_counter()
    if concretes is None:
        concretes = concrete_responses(app, progress, stats)
    rendered = time.perf_counter()
    if progress is not None:
        progress.lowering()
    by_decl = {id(r.decl): r for r in stats.routes} if stats is not None else {}
    routes: list[tuple[bytes, int, int]] = []
    page_rows: list[RouteRow] = []
    for c in sorted(concretes, key=lambda c: c.key):
        r = c.response
        get_idx = len(streams)
        streams.append(Stream(c.header, r.body, c.conn_off, r.status))
        streams.append(Stream(c.header, b"", c.conn_off, r.status))
        routes.append((c.key.encode("ascii"), get_idx, get_idx + 1))
        kind = "page" if isinstance(c.decl, Route) else "static"
        segs = nsegments(len(c.header) + len(r.body), mss)
        if stats is not None:
            by_decl[id(c.decl)].segments += segs
        page_rows.append(
            RouteRow(c.key, r.status, r.content_type, len(r.body), segs, kind, c.origin)
        )
    blob = bf.build_blob(mss, streams, routes, specials)
    manifest = Manifest(
        format=bf.FORMAT,
        ssdk_version=ssdk.__version__,
        mss=mss,
        source=source,
        blob_sha256=hashlib.sha256(blob).hexdigest(),
        routes=page_rows + rows,
        blob_bytes=len(blob),
        nresp=len(streams),
        nseg=sum(nsegments(len(s.header) + len(s.body), mss) for s in streams),
    )
    if stats is not None:
        stats.render_s += rendered - began
        stats.lower_s += time.perf_counter() - rendered
    return manifest, blob


def _import_error(file: Path, e: BaseException) -> BuildError:
    line = 0
    if isinstance(e, SyntaxError) and e.filename == str(file):
        line = e.lineno or 0
    else:
        for frame in traceback.extract_tb(e.__traceback__):
            if frame.filename == str(file):
                line = frame.lineno or 0
    return BuildError("<app>", str(file), line, f"import failed: {_raised(e)}")


def load_app(path: str | Path, attr: str = "app") -> App:
    """Import an app file as a fresh module and return its App (`file.py:name` works)."""
    if isinstance(path, str) and ":" in path:
        head, _, tail = path.rpartition(":")
        if head and tail.isidentifier():
            path, attr = head, tail
    file = Path(path).resolve()
    if not file.is_file():
        raise BuildError("<app>", str(file), 0, "no such app file")
    name = f"_ssdk_app_{hashlib.sha1(str(file).encode()).hexdigest()[:10]}_{next(_loads)}"
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    folder = str(file.parent)
    sys.modules[name] = module
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BuildError:
        sys.modules.pop(name, None)
        raise
    except (Exception, SystemExit) as e:
        sys.modules.pop(name, None)
        raise _import_error(file, e) from e
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        found = "nothing" if app is None else f"a {type(app).__name__}"
        raise BuildError("<app>", str(file), 0, f"'{attr}' is {found}, not an ssdk.App")
    return app


def build_file(
    app_path: str | Path,
    out_path: str | Path,
    *,
    mss: int = 1448,
    progress: Progress | None = None,
    stats: BuildStats | None = None,
) -> Manifest:
    """Load the app at `app_path`, build it and write the bundle to `out_path`."""
    began = time.perf_counter()
    app = load_app(app_path)
    loaded = time.perf_counter()
    manifest, blob = build(app, mss=mss, source=str(app_path), progress=progress, stats=stats)
    built = time.perf_counter()
    write_bundle(out_path, manifest, blob)
    if stats is not None:
        stats.load_s += loaded - began
        stats.write_s += time.perf_counter() - built
    return manifest


def _is_bundle(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(bf.MAGIC)) == bf.MAGIC
    except OSError:
        return False


def open_target(target: str | Path, *, mss: int = 1448) -> Bundle:
    """A bundle file as it is, or an app file built in memory."""
    path = Path(target)
    if path.suffix == ".ssdk" or _is_bundle(path):
        return read_bundle(path)
    app = load_app(target)
    manifest, blob = build(app, mss=mss, source=str(target))
    return Bundle(manifest, blob)
