# ssdk/core/report.py: human-readable text about a manifest (`ssdk routes`, build summary).
#
# Owns: formatting only; reads a Manifest, never the blob, never the app.
# Invariants: output is plain text with no trailing spaces and no colour codes, so it can
# be diffed, grepped and pasted into an issue.
from __future__ import annotations

import os

from ssdk.core.bundle import Manifest, RouteRow

COLUMNS = ("PATH", "KIND", "STATUS", "TYPE", "BYTES", "SEGS")
_RIGHT = {"STATUS", "BYTES", "SEGS"}


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
    return (r.path, r.kind, str(r.status), _short_type(r.content_type), str(r.body_bytes),
            str(r.segments))  # fmt: skip


def format_routes(manifest: Manifest, *, specials: bool = False, origin: bool = False) -> str:
    """The routes as an aligned table, one line per path, sorted as in the manifest."""
    rows = [r for r in manifest.routes if specials or r.kind != "special"]
    header = COLUMNS + (("FROM",) if origin else ())
    table = [header]
    base = os.path.dirname(os.path.abspath(manifest.source)) if manifest.source else ""
    for r in rows:
        cells = _row(r)
        if origin:
            cells += (_relative(r.origin, base),)
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for row in table:
        cells = [
            cell.rjust(w) if name in _RIGHT else cell.ljust(w)
            for cell, w, name in zip(row, widths, header, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _relative(path: str, base: str) -> str:
    if not path or not base or not os.path.isabs(path):
        return path
    rel = os.path.relpath(path, os.path.abspath(base))
    return path if rel.startswith("..") else rel


def format_summary(manifest: Manifest, out_path: str | None = None) -> str:
    """One paragraph: what was built, how big, where it went."""
    pages = sum(r.kind == "page" for r in manifest.routes)
    statics = sum(r.kind == "static" for r in manifest.routes)
    body = sum(r.body_bytes for r in manifest.routes if r.kind != "special")
    where = f" -> {out_path}" if out_path else ""
    lines = [
        f"built {manifest.source or 'app'}{where}",
        f"  {pages + statics} paths ({pages} pages, {statics} static files), "
        f"{human_bytes(body)} of content",
        f"  {manifest.nresp} responses in {manifest.nseg} segments at MSS {manifest.mss}, "
        f"blob {human_bytes(manifest.blob_bytes)}",
        f"  sha256 {manifest.blob_sha256}",
    ]
    return "\n".join(lines)
