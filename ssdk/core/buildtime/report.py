# ssdk/core/buildtime/report.py: human-readable text about a manifest (`ssdk routes`, build summary,
# build progress).
#
# Owns: formatting only; reads a Manifest and the build's BuildStats, never the blob,
# never the app.
# Invariants: output is plain text with no trailing spaces and no colour codes, so it can
# be diffed, grepped and pasted into an issue.
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ssdk.core.bundle import Manifest, RouteRow

if TYPE_CHECKING:
    from ssdk.core.buildtime.build import BuildStats

COLUMNS = ("PATH", "KIND", "STATUS", "TYPE", "BYTES", "SEGS")
SUMMARY_COLUMNS = ("ROUTE", "KIND", "PATHS", "BYTES", "SEGS", "TIME")
_SUMMARY_RIGHT = frozenset({"PATHS", "BYTES", "SEGS", "TIME"})
_RIGHT = frozenset({"STATUS", "BYTES", "SEGS"})


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'; exact below 1 KiB."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def _short_type(ctype: str) -> str:
    # "; charset=utf-8" is on every text type; it only widens the column.
    return ctype.split(";", 1)[0].strip()


def _row(r: RouteRow) -> tuple[str, ...]:
    # A virtual host's paths are shown after its name; the codings stored beside identity
    # after the kind ("page+gzip+br").
    kind = "+".join([r.kind, *r.codings.split()])
    return (
        r.host + r.path,
        kind,
        str(r.status),
        _short_type(r.content_type),
        str(r.body_bytes),
        str(r.segments),
    )


def format_routes(manifest: Manifest, *, specials: bool = False, origin: bool = False) -> str:
    """The routes as an aligned table, one line per path, sorted as in the manifest."""
    rows = [r for r in manifest.routes if specials or r.kind != "special"]
    header = COLUMNS + (("FROM",) if origin else ())
    table = []
    base = os.path.dirname(os.path.abspath(manifest.source)) if manifest.source else ""
    for r in rows:
        cells = _row(r)
        if origin:
            cells += (_relative(r.origin, base),)
        table.append(cells)
    return "\n".join(_table(header, table, _RIGHT))


def _relative(path: str, base: str) -> str:
    if not path or not base or not os.path.isabs(path):
        return path
    rel = os.path.relpath(path, os.path.abspath(base))
    return path if rel.startswith("..") else rel


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def human_seconds(s: float) -> str:
    """0.00042 -> '0.42 ms', 0.042 -> '42 ms', 4.2 -> '4.20 s', 42 -> '42 s'."""
    if s < 0.01:
        return f"{s * 1000:.2f} ms"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    return f"{s:.2f} s" if s < 10 else f"{s:.0f} s"


def _table(
    header: tuple[str, ...], rows: list[tuple[str, ...]], right: frozenset[str]
) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(w) if name in right else cell.ljust(w)
            for cell, w, name in zip(row, widths, header, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _summary_rows(manifest: Manifest, stats: BuildStats | None) -> list[tuple[str, ...]]:
    if stats is not None:
        return [
            (
                r.route if r.kind == "page" else r.route.rstrip("/") + "/*",
                r.kind,
                str(r.paths),
                human_bytes(r.body_bytes),
                str(r.segments),
                human_seconds(r.seconds),
            )
            for r in stats.routes
        ]
    # A bundle read back has no declarations: one row per kind instead.
    rows: list[tuple[str, ...]] = []
    for kind, label in (("page", "(pages)"), ("static", "(static files)")):
        mine = [r for r in manifest.routes if r.kind == kind]
        if mine:
            rows.append(
                (
                    label,
                    kind,
                    str(len(mine)),
                    human_bytes(sum(r.body_bytes for r in mine)),
                    str(sum(r.segments for r in mine)),
                    "",
                )
            )
    return rows


def format_summary(
    manifest: Manifest, out_path: str | None = None, stats: BuildStats | None = None
) -> str:
    """What was built: a table of the routes (paths, bytes, segments, time), the totals,
    and where it went. With `stats`, one row per declaration; otherwise one per kind."""
    routes = [r for r in manifest.routes if r.kind != "special"]
    pages = sum(r.kind == "page" for r in routes)
    statics = sum(r.kind == "static" for r in routes)
    body = sum(r.body_bytes for r in routes)
    segs = sum(r.segments for r in routes)
    where = f" -> {out_path}" if out_path else ""
    took = f" in {human_seconds(stats.total_s)}" if stats is not None else ""
    rows = _summary_rows(manifest, stats)
    rendering = sum(r.seconds for r in stats.routes) if stats is not None else None
    rows.append(
        (
            "total",
            "",
            str(len(routes)),
            human_bytes(body),
            str(segs),
            human_seconds(rendering) if rendering is not None else "",
        )
    )
    lines = [f"built {manifest.source or 'app'}{where}{took}", ""]
    lines += _table(SUMMARY_COLUMNS, rows, _SUMMARY_RIGHT)
    lines += [
        "",
        f"{_count(len(routes), 'path')} ({_count(pages, 'page')}, "
        f"{_count(statics, 'static file')}), {human_bytes(body)} of content",
        f"{manifest.nresp} responses (GET, HEAD and errors) in {manifest.nseg} segments "
        f"at MSS {manifest.mss}, blob {human_bytes(manifest.blob_bytes)}",
    ]
    if stats is not None:
        lines.append(
            f"time: load {human_seconds(stats.load_s)}, render {human_seconds(stats.render_s)}, "
            f"lower {human_seconds(stats.lower_s)}, write {human_seconds(stats.write_s)}"
        )
    lines.append(f"sha256 {manifest.blob_sha256}")
    return "\n".join(lines)


def format_progress(stage: str, done: int, total: int, elapsed: float, width: int = 80) -> str:
    """One line of a build's progress, at most `width` characters: a bar while rendering
    (`done` of `total` paths), a plain line while lowering (`total` responses)."""
    took = human_seconds(elapsed)
    if stage == "lower":
        return f"lowering {total} responses into segments  {took}"[:width]
    count = f"{done}/{total} paths  {took}"
    room = width - len("rendering [] ") - len(count) - 1
    if room < 10:
        return f"rendering {count}"[:width]
    filled = room * done // total if total else room
    return f"rendering [{'#' * filled}{'.' * (room - filled)}] {count}"
