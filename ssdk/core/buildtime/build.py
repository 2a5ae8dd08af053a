# ssdk/core/buildtime/build.py: from an app (file) to a bundle: load, enumerate, lower, write.
#
# Owns: loading app files, turning declarations into concrete responses and their
# variants, the error pages and special responses of each host, virtual hosts, and the
# manifest.
# Invariants: every problem a developer can cause surfaces as one BuildError carrying the
# file and line of the declaration at fault (the later one, for a collision); a build is
# deterministic for a given build time: responses are laid out by host and route key,
# specials first (identical ones stored once).
#
# A build first plans every path (ssdk/core/buildtime/plan.py: params functions, folder listings),
# then renders them in the same order, each into its variants (ssdk/core/buildtime/variants.py).
# The plan knows the total, so a large build can show a progress bar; a problem found
# while planning is held back until every path planned before it has rendered, so the
# error reported is the one a path-by-path build would have met first.
from __future__ import annotations

import hashlib
import importlib.util
import itertools
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import ssdk
from ssdk.core import bundle as bf
from ssdk.core.buildtime.errors import BuildError, located, raised
from ssdk.core.buildtime.hosts import error_pages, host_names, sections
from ssdk.core.buildtime.plan import Planned, plan, plan_page
from ssdk.core.buildtime.tables import TableBuilder
from ssdk.core.buildtime.variants import CODINGS, Variant, lower_response, merge_headers
from ssdk.core.bundle import Bundle, Manifest, RouteRow, read_bundle, write_bundle
from ssdk.core.cdefs import DEFAULT_MSS, MSS_MAX, MSS_MIN, ROUTE_KEY_SAFE
from ssdk.core.http import PAGE_TYPE, SPECIALS, Page, check_headers, content_type_for, redirect_page
from ssdk.core.lower import nsegments
from ssdk.routing.app import App, ErrorPage, Location, Route, Static, VirtualHost
from ssdk.routing.responses import Response, to_response

__all__ = [
    "DEFAULT_MSS",
    "BuildError",
    "BuildStats",
    "Concrete",
    "Progress",
    "RouteStats",
    "build",
    "build_file",
    "concrete_responses",
    "load_app",
    "open_target",
]

# Characters left as they are in route keys (docs/bundle.md, "Route keys"), the template
# MSS the C core accepts (a segment fits a NIC_FRAME_MAX frame) and the one a build
# takes unless told: all from the C headers (ssdk/core/cdefs.py).
KEY_SAFE = ROUTE_KEY_SAFE
MSS_RANGE = (MSS_MIN, MSS_MAX)

_loads = itertools.count()


@dataclass
class Concrete:
    """One servable path of one host, rendered into its variants."""

    key: str  # percent-encoded, as on the wire
    decl: Route | Static
    where: Location  # blamed if this path collides with an earlier one
    response: Response
    variants: list[Variant]
    origin: str
    section: int = 0  # 0: the default host; n: the app's n-th virtual host
    kind: str = "page"  # "page" | "static" | "redirect"


def _route_headers(decl: Route | Static) -> dict[str, str]:
    """What a declaration adds to each of its responses (headers, then cache_control)."""
    given = dict(decl.headers)
    if decl.cache_control is not None:
        if any(k.lower() == "cache-control" for k in given):
            raise located(decl, "Cache-Control given both in headers and as cache_control")
        given["Cache-Control"] = decl.cache_control
    try:
        check_headers(given)
    except ValueError as e:
        raise located(decl, str(e)) from None
    return given


def _concrete(
    p: Planned, resp: Response, ctx: _Context, last_modified: int, kind: str, origin: str
) -> Concrete:
    path = p.path
    if any(seg in (".", "..") for seg in path.split("/")):
        raise located(
            p.decl, f"path {path!r} has a '.' or '..' segment, which clients remove", p.where
        )
    headers = merge_headers(_route_headers(p.decl), resp.headers)
    try:
        variants = lower_response(
            resp.status,
            resp.content_type,
            resp.body,
            headers,
            last_modified=last_modified,
            server=ctx.server,
            range_page=ctx.pages.get(416),
        )
    except ValueError as e:
        # The handler made this response, so blame it rather than the params function.
        raise located(p.decl, f"response for {path!r}: {e}") from None
    key = quote(path, safe=KEY_SAFE)
    return Concrete(key, p.decl, p.where, resp, variants, origin, ctx.section, kind)


def _coerce(decl: Route | ErrorPage, value: object) -> Response:
    try:
        return to_response(value)
    except TypeError as e:
        raise located(decl, str(e)) from e


def _render(route: Route, kwargs: dict[str, Any]) -> Response:
    try:
        value = route.handler(**kwargs)
    except Exception as e:
        raise located(route, f"handler {route.name}() raised {raised(e)}") from e
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
class _Context:
    """What rendering one host's paths needs to know."""

    section: int
    server: str | None
    build_time: int
    pages: dict[int, Page]


def _make(p: Planned, ctx: _Context) -> Concrete:
    if p.redirect is not None:
        target = quote(p.redirect, safe=KEY_SAFE)
        resp = Response(redirect_page(target), 301, {"Location": target}, PAGE_TYPE)
        return _concrete(p, resp, ctx, ctx.build_time, "redirect", "")
    if p.file is None:
        assert isinstance(p.decl, Route)
        resp = _render(p.decl, p.kwargs)
        return _concrete(p, resp, ctx, ctx.build_time, "page", str(p.decl.location))
    try:
        body = p.file.read_bytes()
        mtime = int(p.file.stat().st_mtime)
    except OSError as e:
        raise located(p.decl, f"cannot read {str(p.file)!r}: {e.strerror}") from None
    resp = Response(body, content_type=content_type_for(p.file))
    return _concrete(p, resp, ctx, mtime, "static", str(p.file))


def _stats_of(decl: Route | Static) -> RouteStats:
    if isinstance(decl, Route):
        return RouteStats(decl.path, "page", str(decl.location), decl=decl)
    return RouteStats(decl.prefix, "static", str(decl.location), decl=decl)


def concrete_responses(
    app: App,
    progress: Progress | None = None,
    stats: BuildStats | None = None,
    build_time: int = 0,
) -> list[Concrete]:
    """Every servable path of `app`, host by host, checked for collisions, in
    declaration order."""
    plans = []
    problem: BuildError | None = None
    for n, sec in enumerate(sections(app)):
        planned, problem = plan(sec)
        plans.append((n, sec, planned))
        if problem is not None:
            break
    total = sum(len(p) for _, _, p in plans)
    if progress is not None:
        progress.start(total, 2 * total + len(SPECIALS))
    per_decl: dict[int, RouteStats] = {}
    if stats is not None:
        for _, sec, _ in plans:
            for decl in sec.declarations():
                row = per_decl[id(decl)] = _stats_of(decl)
                stats.routes.append(row)
    out: list[Concrete] = []
    done = 0
    for n, sec, planned in plans:
        ctx = _Context(n, app.server, build_time, error_pages(sec))
        seen: dict[str, Concrete] = {}
        for p in planned:
            began = time.perf_counter()
            c = _make(p, ctx)
            if stats is not None:
                row = per_decl[id(p.decl)]
                row.seconds += time.perf_counter() - began
                row.paths += 1
                row.body_bytes += len(c.response.body)
            other = seen.setdefault(c.key, c)
            if other is not c:
                kind = "route" if isinstance(other.decl, Route) else "static folder"
                name = other.decl.path if isinstance(other.decl, Route) else other.decl.prefix
                raise located(
                    p.decl,
                    f"path {c.key!r} is also served by {kind} '{name}' ({other.where})",
                    c.where,
                )
            done += 1
            if progress is not None:
                progress.rendered(done)
        out += seen.values()
    if problem is not None:
        raise problem
    return out


def render_route(app: App, route: Route, build_time: int) -> list[Concrete]:
    """Every response of one page of `app`, rendered now (revalidation), with
    `build_time` as its Last-Modified; raises BuildError."""
    for n, sec in enumerate(sections(app)):
        if any(r is route for r in sec.routes):
            ctx = _Context(n, app.server, build_time, error_pages(sec))
            return [_make(p, ctx) for p in plan_page(route)]
    raise ValueError(f"{route!r} is not a page of this app")


def build(
    app: App,
    *,
    mss: int = DEFAULT_MSS,
    source: str = "",
    progress: Progress | None = None,
    stats: BuildStats | None = None,
    build_time: int | None = None,
    concretes: list[Concrete] | None = None,
) -> tuple[Manifest, bytes]:
    """Render and lower every response of `app`; returns the manifest and the blob.

    `progress` is told how far it got; `stats`, if given, gets a row per declaration and
    the time spent rendering and lowering. `build_time` (seconds since 1970) is the
    Last-Modified of pages; by default $SOURCE_DATE_EPOCH, or now. `concretes`, if given,
    are the responses to lower instead of rendering them (revalidation keeps most and
    renders a few again).
    """
    if not isinstance(app, App) or isinstance(app, VirtualHost):
        raise TypeError(f"build() needs an ssdk.App, not {type(app).__name__}")
    if not MSS_RANGE[0] <= mss <= MSS_RANGE[1]:
        raise ValueError(f"mss {mss} outside {MSS_RANGE[0]}..{MSS_RANGE[1]}")
    if build_time is None:
        build_time = int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())
    hosts = host_names(app)
    tables = TableBuilder(mss)
    began = time.perf_counter()
    if concretes is None:
        concretes = concrete_responses(app, progress, stats, build_time)
    for sec in sections(app):
        tables.specials(app.server, error_pages(sec))
    rendered = time.perf_counter()
    if progress is not None:
        progress.lowering()
    by_decl = {id(r.decl): r for r in stats.routes} if stats is not None else {}
    names = {n: name.decode() for name, n in reversed(hosts)}
    page_rows: list[RouteRow] = []
    for c in sorted(concretes, key=lambda c: (c.section, c.key)):
        tables.route(c.section, c.key.encode("ascii"), c.variants)
        ident = c.variants[0]
        segs = nsegments(len(ident.get.header) + len(ident.get.body), mss)
        if stats is not None:
            by_decl[id(c.decl)].segments += segs
        codings = " ".join(CODINGS[v.coding] for v in c.variants[1:])
        page_rows.append(
            RouteRow(
                c.key,
                c.response.status,
                c.response.content_type,
                len(c.response.body),
                segs,
                c.kind,
                c.origin,
                names.get(c.section, ""),
                codings,
            )
        )
    blob = tables.blob(hosts)
    manifest = Manifest(
        format=bf.FORMAT,
        ssdk_version=ssdk.__version__,
        mss=mss,
        source=source,
        blob_sha256=hashlib.sha256(blob).hexdigest(),
        routes=page_rows + tables.special_rows,
        blob_bytes=len(blob),
        nresp=len(tables.streams),
        nseg=tables.nseg(),
        built_at=build_time,
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
    return BuildError("<app>", str(file), line, f"import failed: {raised(e)}")


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
    mss: int = DEFAULT_MSS,
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


def open_target(target: str | Path, *, mss: int = DEFAULT_MSS) -> Bundle:
    """A bundle file as it is, or an app file built in memory."""
    path = Path(target)
    if path.suffix == ".ssdk" or _is_bundle(path):
        return read_bundle(path)
    app = load_app(target)
    manifest, blob = build(app, mss=mss, source=str(target))
    return Bundle(manifest, blob)
