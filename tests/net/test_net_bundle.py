# tests/net/test_net_bundle.py: a built bundle serves on its own, with the app's source gone;
# and an app .py given to `ssdk serve` is built and served directly.
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from nethelpers import (
    PAGES,
    Server,
    build_bundle,
    file_sha256,
    random_files,
    serve,
    sha256,
    write_app,
)

pytestmark = pytest.mark.net

SMALL = {"f1449.bin": 1449, "f64k.bin": 64 * 1024}


def fetch_all(server: Server, expected: dict[str, bytes], tmp: Path) -> None:
    for i, (path, body) in enumerate(expected.items()):
        out = tmp / f"body-{i}"
        proc = server.curl_to(path, out)
        assert proc.returncode == 0, f"curl {path}: {proc.stderr}\n{server.log_tail()}"
        assert file_sha256(out) == sha256(body), path


def test_bundle_serves_without_app_source(net_ready: None, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = write_app(src, random_files(SMALL))
    bundle = build_bundle(src / "app.py", tmp_path / "app.ssdk")
    # Nothing of the app is left to import or read: the bundle must carry it all.
    shutil.rmtree(src)
    run = tmp_path / "run"
    run.mkdir()
    with serve(bundle, run, tag="bndl") as server:
        fetch_all(server, expected, run)


def test_serve_app_py_directly(net_ready: None, tmp_path: Path) -> None:
    src = tmp_path / "src"
    expected = write_app(src, random_files(SMALL))
    assert set(PAGES) <= set(expected)
    with serve(src / "app.py", src, tag="py") as server:
        fetch_all(server, expected, tmp_path)
