"""`ssdk build`'s summary table and its progress bar, and the build's plan-then-render
order: the first problem reported is the one a path-by-path build would meet first.

The bar is checked on a real pseudo-terminal (it is drawn only when stderr is one) and
is absent everywhere else.
"""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from unit_helpers import AppWriter, build_error

import ssdk
from ssdk.cli import PROGRESS_MIN_RESPONSES, TerminalProgress, main
from ssdk.core.buildtime.build import SPECIALS, BuildStats, build, build_file
from ssdk.core.buildtime.report import format_progress, format_summary, human_seconds

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "hello" / "app.py"


def big_app(folder: Path, pages: int) -> Path:
    """An app of `pages` pages of a few segments each."""
    app = folder / "big.py"
    app.write_text(textwrap.dedent(f"""
        import ssdk
        app = ssdk.App()

        @app.page("/n/{{i:int}}")
        def page(i):
            return ssdk.text(str(i) * 3000)

        @page.params
        def _():
            yield from ({{"i": i}} for i in range({pages}))
        """))
    return app


class Recorder:
    """A Progress that writes down what it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def start(self, paths: int, responses: int) -> None:
        self.calls.append(("start", paths, responses))

    def rendered(self, paths: int) -> None:
        self.calls.append(("rendered", paths, 0))

    def lowering(self) -> None:
        self.calls.append(("lowering", 0, 0))


# --- the summary -----------------------------------------------------------------------


def table(summary: str) -> dict[str, list[str]]:
    lines = summary.split("\n\n")[1].splitlines()
    assert lines[0].split() == ["ROUTE", "KIND", "PATHS", "BYTES", "SEGS", "TIME"]
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


def test_the_summary_has_a_row_per_declaration(tmp_path: Path) -> None:
    stats = BuildStats()
    manifest = build_file(HELLO, tmp_path / "h.ssdk", stats=stats)
    summary = format_summary(manifest, "h.ssdk", stats)
    assert summary.startswith(f"built {HELLO} -> h.ssdk in ")
    rows = table(summary)
    assert list(rows) == ["/files/*", "/", "/items/{name}", "total"]
    assert rows["/files/*"][:4] == ["static", "2", "95", "B"]
    assert rows["/items/{name}"][:5] == ["page", "3", "36", "B", "3"]
    assert rows["total"][:4] == ["6", "145", "B", "6"]
    assert rows["/"][-1] == "ms"  # a time for every route
    assert "6 paths (4 pages, 2 static files), 145 B of content" in summary
    assert f"{manifest.nresp} responses" in summary and f"{manifest.nseg} segments" in summary
    assert "time: load " in summary and manifest.blob_sha256 in summary
    assert all(line == line.rstrip() for line in summary.splitlines())


def test_stats_add_up_to_the_manifest() -> None:
    app = ssdk.App()
    app.page("/")(lambda: "x" * 5000)
    app.page("/a/{n:int}")(lambda n: "y" * n).params(lambda: ({"n": n} for n in (1, 3000)))
    stats = BuildStats()
    manifest, _ = build(app, stats=stats, mss=1000)
    rows = [r for r in manifest.routes if r.kind != "special"]
    assert [(s.route, s.paths) for s in stats.routes] == [("/", 1), ("/a/{n:int}", 2)]
    assert sum(s.body_bytes for s in stats.routes) == sum(r.body_bytes for r in rows) == 8001
    assert sum(s.segments for s in stats.routes) == sum(r.segments for r in rows)
    assert stats.total_s == stats.load_s + stats.render_s + stats.lower_s + stats.write_s > 0


def test_a_bundle_read_back_is_summarized_by_kind(tmp_path: Path) -> None:
    manifest = build_file(HELLO, tmp_path / "h.ssdk")
    rows = table(format_summary(manifest))
    assert list(rows) == ["(pages)", "(static", "total"]


def test_human_seconds() -> None:
    assert [human_seconds(s) for s in (0.00042, 0.042, 4.2, 42.4)] == [
        "0.42 ms", "42 ms", "4.20 s", "42 s"]  # fmt: skip


def test_the_build_command_prints_the_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc = main(["build", str(HELLO), "-o", str(tmp_path / "h.ssdk")])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    assert "/items/{name}" in table(out) and "6 paths" in out


# --- the order of problems -------------------------------------------------------------


def test_a_handler_error_is_reported_before_a_later_params_error(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/a")  # @first
        def a(): raise KeyError("first")
        @app.page("/b/{x}")
        def b(x): return x
        @b.params  # @params
        def _(): raise KeyError("second")
        """
    )
    e = build_error(path)
    assert (e.line, e.route) == (at["first"], "/a") and "first" in e.message


def test_within_a_route_the_earlier_path_is_reported_first(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/n/{x}")  # @page
        def n(x): raise ValueError(x)
        @n.params  # @params
        def _():
            yield {"x": "a"}
            raise KeyError("later")
        """
    )
    e = build_error(path)
    assert e.line == at["page"] and "ValueError: a" in e.message


def test_a_params_error_is_reported_when_everything_before_it_renders(
    write_app: AppWriter,
) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/a")
        def a(): return "fine"
        @app.page("/n/{x}")
        def n(x): return x
        @n.params  # @params
        def _():
            yield {"x": "a"}
            yield {"x": "a/b"}
        """
    )
    e = build_error(path)
    assert e.line == at["params"] and "does not match" in e.message


def test_a_collision_is_reported_before_a_later_params_error(write_app: AppWriter) -> None:
    path, at = write_app(
        """
        import ssdk
        app = ssdk.App()
        @app.page("/n/{x}")
        def n(x): return x
        @n.params
        def _(): yield {"x": "a"}
        @app.page("/n/a")  # @literal
        def literal(): return "a"
        @app.page("/m/{y}")
        def m(y): return y
        @m.params
        def _(): raise KeyError("later")
        """
    )
    e = build_error(path)
    assert e.line == at["literal"] and "also served by" in e.message


# --- progress ---------------------------------------------------------------------------


def test_progress_is_told_the_plan_each_path_and_the_lowering() -> None:
    app = ssdk.App()
    app.page("/p/{n:int}")(lambda n: str(n)).params(lambda: ({"n": n} for n in range(5)))
    rec = Recorder()
    build(app, progress=rec)
    assert rec.calls == [
        ("start", 5, 10 + len(SPECIALS)),
        *(("rendered", n, 0) for n in range(1, 6)),
        ("lowering", 0, 0),
    ]


@pytest.mark.parametrize("width", [30, 60, 80, 200])
def test_a_progress_line_fits_its_width(width: int) -> None:
    for done in (0, 1, 50, 99, 100):
        line = format_progress("render", done, 100, 1.5, width)
        assert len(line) <= width and f"{done}/100 paths" in line
    assert len(format_progress("lower", 0, 12345, 1.5, width)) <= width


def test_the_bar_fills_as_paths_render() -> None:
    half = format_progress("render", 50, 100, 1.0, 80)
    bar = half[half.index("[") + 1 : half.index("]")]
    assert bar.count("#") == len(bar) // 2 and set(bar) == {"#", "."}
    full = format_progress("render", 100, 100, 1.0, 80)
    assert "." not in full[full.index("[") : full.index("]")]


def test_the_terminal_progress_draws_for_large_builds_and_clears() -> None:
    stream = io.StringIO()
    bar = TerminalProgress(stream, width=80)
    paths = PROGRESS_MIN_RESPONSES  # twice as many responses, and the specials
    bar.start(paths, 2 * paths + len(SPECIALS))
    for n in range(1, paths + 1):
        bar.rendered(n)
    bar.lowering()
    drawn = stream.getvalue()
    assert drawn.startswith("\rrendering [")
    assert f"{paths}/{paths} paths" in drawn and "lowering" in drawn
    bar.clear()
    last = stream.getvalue()[len(drawn) :]
    assert last.strip() == "" and last.startswith("\r") and last.endswith("\r")
    # Redrawn at most ten times a second: far fewer lines than paths.
    assert drawn.count("\r") < paths


def test_the_terminal_progress_stays_silent_for_small_builds() -> None:
    stream = io.StringIO()
    bar = TerminalProgress(stream, width=80)
    bar.start(10, 20 + len(SPECIALS))
    bar.rendered(10)
    bar.lowering()
    bar.clear()
    assert stream.getvalue() == ""


def test_no_bar_when_stderr_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc = main(["build", str(big_app(tmp_path, 300)), "-o", str(tmp_path / "b.ssdk")])
    out, err = capsys.readouterr()
    assert rc == 0 and err == "" and "\r" not in out
    assert "300 paths" in out


def test_a_bar_on_a_terminal(tmp_path: Path) -> None:
    app = big_app(tmp_path, 300)
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ssdk", "build", str(app), "-o", str(tmp_path / "b.ssdk")],
            stdout=subprocess.PIPE, stderr=terminal, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100"},
        )  # fmt: skip
        os.close(terminal)
        seen = b""
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's last writer has gone
                break
            if not chunk:
                break
            seen += chunk
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(controller)
    assert proc.returncode == 0
    assert b"rendering [" in seen and b"300/300 paths" in seen and b"lowering" in seen
    assert seen.endswith(b"\r")  # the line is wiped, leaving the summary alone
    assert b"300 paths" in out and b"\r" not in out
