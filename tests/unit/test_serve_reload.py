# tests/unit/test_serve_reload.py: SIGHUP in `ssdk serve` (ssdk/serve.py: reload). A
# bundle target is read again at its path, a link resolved once, and published to the
# workers (the generation swap): what a content-only `ssdk deploy` does to a running
# server. An app target, or a file that is not a bundle, is not swapped, and says why.
from __future__ import annotations

from pathlib import Path

import pytest

from ssdk.core.buildtime.build import build_file
from ssdk.serve import reload

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello" / "app.py"


def test_a_link_to_a_bundle_is_resolved_and_published(tmp_path: Path) -> None:
    for n in (1, 2):
        (tmp_path / f"r{n}").mkdir()
        build_file(HELLO, tmp_path / f"r{n}" / "app.ssdk")
    current = tmp_path / "current"
    current.symlink_to("r1")
    published: list[str] = []
    assert reload(str(current / "app.ssdk"), published.append)
    current.unlink()
    current.symlink_to("r2")  # a deploy moves the link; the next SIGHUP follows it
    assert reload(str(current / "app.ssdk"), published.append)
    assert published == [str(tmp_path / "r1" / "app.ssdk"), str(tmp_path / "r2" / "app.ssdk")]


def test_an_app_or_a_broken_bundle_is_not_swapped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    published: list[str] = []
    assert not reload(str(HELLO), published.append)
    assert "restart" in capsys.readouterr().out
    bad = tmp_path / "bad.ssdk"
    bad.write_bytes(b"not a bundle")
    assert not reload(str(bad), published.append)
    assert "not swapped" in capsys.readouterr().out
    assert published == []
