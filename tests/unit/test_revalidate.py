# tests/unit/test_revalidate.py: the supervisor's revalidation (ssdk/revalidate.py)
# without a network: a page whose `revalidate` time has passed, or a path asked for by
# app.refresh(), is rendered again and published as a new bundle file that holds the new
# body; a failing render publishes nothing and keeps the last good response; only the
# last KEEP_FILES bundle files stay on disk.
from __future__ import annotations

from pathlib import Path

import ssdk
from ssdk.core.buildtime.build import concrete_responses
from ssdk.core.bundle import read_bundle
from ssdk.revalidate import KEEP_FILES, Revalidator


def make_app() -> tuple[ssdk.App, dict[str, object]]:
    app = ssdk.App()
    state: dict[str, object] = {"n": 0, "fail": False}

    @app.page("/live", revalidate=10)
    def live() -> str:
        if state["fail"]:
            raise RuntimeError("the source is down")
        state["n"] = int(str(state["n"])) + 1
        return f"version {state['n']}"

    @app.page("/fixed")
    def fixed() -> str:
        return "fixed"

    return app, state


def body_of(bundle_path: str, path: str) -> bytes:
    """The body of what a GET of `path` is answered with (the stream after its header)."""
    with read_bundle(Path(bundle_path)) as bundle:
        index = bundle.lookup(path)
        assert index is not None, path
        return bundle.stream(index).split(b"\r\n\r\n", 1)[1]


def test_due_and_asked_pages_are_published_with_their_new_body(tmp_path: Path) -> None:
    app, state = make_app()
    published: list[str] = []
    reval = Revalidator(app, concrete_responses(app, build_time=0), 1448, tmp_path,
                        published.append)  # fmt: skip
    assert not reval.tick(now=0.0)  # nothing due yet: nothing rendered, nothing published
    assert published == [] and state["n"] == 1
    assert reval.tick(now=1e9)  # /live's 10 s have passed
    assert len(published) == 1 and Path(published[0]).is_file()
    assert body_of(published[0], "/live") == b"version 2"
    assert body_of(published[0], "/fixed") == b"fixed"
    reval.refresh("/live")
    assert reval.tick(now=0.0)
    assert body_of(published[-1], "/live") == b"version 3"


def test_a_failing_render_publishes_nothing(tmp_path: Path) -> None:
    app, state = make_app()
    published: list[str] = []
    reval = Revalidator(app, concrete_responses(app, build_time=0), 1448, tmp_path,
                        published.append)  # fmt: skip
    state["fail"] = True
    assert not reval.tick(now=1e9)
    assert published == []
    state["fail"] = False
    assert reval.tick(now=2e9)
    assert body_of(published[-1], "/live") == b"version 2"


def test_only_the_last_bundle_files_stay(tmp_path: Path) -> None:
    app, _ = make_app()
    published: list[str] = []
    reval = Revalidator(app, concrete_responses(app, build_time=0), 1448, tmp_path,
                        published.append)  # fmt: skip
    for i in range(KEEP_FILES + 3):
        reval.refresh("/live")
        assert reval.tick(now=float(i))
    assert sorted(tmp_path.iterdir()) == sorted(Path(p) for p in published[-KEEP_FILES:])
    reval.close()
    assert list(tmp_path.iterdir()) == []
