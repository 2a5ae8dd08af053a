# tests/net/test_net_newuser.py: ssdk as a new user meets it. A wheel built from this
# tree is installed into a fresh virtual environment; `ssdk new demo --template blog`,
# `ssdk build`, then `ssdk dev` in the background, in a network namespace made for the
# test (so the TAP device that `ssdk dev` makes, and every packet, stay inside it). A
# client fetches a post; the test edits the post's Markdown and the new text is served,
# while a download of a large file that started before the edit completes byte-exact.
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import REPO, unavailable

from ssdk.tools.netns import _delete_ns, _new_ns  # one owner of namespaces (netns.py)

BIG = 24 * 1024 * 1024
COPY_IGNORE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                     "_core*.so", "_core.c", "*.o", ".pytest_cache",
                                     ".ruff_cache", "fuzz", ".ssdk")  # fmt: skip


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding ssdk installed from a wheel of this tree."""
    tmp = tmp_path_factory.mktemp("newuser")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=COPY_IGNORE, symlinks=True)
    wheels = tmp / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(src), "-w", str(wheels)], timeout=600)  # fmt: skip
    (wheel,) = wheels.glob("ssdk-*.whl")
    env_dir = tmp / "venv"
    run([sys.executable, "-m", "venv", str(env_dir)])
    run([str(env_dir / "bin" / "pip"), "install", "-q", str(wheel), "markdown-it-py>=3"],
        timeout=600)  # fmt: skip
    return env_dir


def run(argv: list[str], timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          **kw)  # type: ignore[call-overload]  # fmt: skip
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    return proc


@pytest.fixture
def namespace() -> Iterator[str]:
    if os.geteuid() != 0:
        unavailable("ssdk dev on a TAP device needs root")
    ns = f"ssdk-newuser-{os.getpid()}-{time.monotonic_ns() % 100000}"
    try:
        _new_ns(ns)
        yield ns
    finally:
        _delete_ns(ns)


def test_new_build_dev_edit(venv: Path, namespace: str, tmp_path: Path) -> None:
    bin_ = venv / "bin"
    # Nothing of this checkout may leak in: the venv's own ssdk must be the one running.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_}{os.pathsep}{env.get('PATH', '')}"
    where = run([str(bin_ / "python"), "-c",
                 "import ssdk.tools.new; print(ssdk.tools.new.__file__)"],
                env=env, cwd=tmp_path).stdout  # fmt: skip
    assert str(venv) in where, where
    t_new = time.monotonic()
    run([str(bin_ / "ssdk"), "new", "demo", "--template", "blog", "--dir", str(tmp_path)],
        env=env, cwd=tmp_path)  # fmt: skip
    proj = tmp_path / "demo"
    big = os.urandom(BIG)
    (proj / "public" / "big.bin").write_bytes(big)
    run([str(bin_ / "ssdk"), "build", "app.py"], cwd=proj, env=env)
    dev = subprocess.Popen(["ip", "netns", "exec", namespace, str(bin_ / "ssdk"), "dev"],
                           cwd=proj, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert dev.stdout is not None
        for line in dev.stdout:
            lines.append(line)
            if "ready:" in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert ready.wait(120), "ssdk dev not ready:\n" + "".join(lines)
        url = re.search(r"ready: (\S+)", "".join(lines)).group(1)  # type: ignore[union-attr]

        def curl(path: str, *extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["ip", "netns", "exec", namespace, "curl", "-sS", "--fail",
                                   "--max-time", "60", *extra, url.rstrip("/") + path],
                                  capture_output=True, text=True, check=False)  # fmt: skip

        first = curl("/posts/hello-world")
        assert first.returncode == 0, first.stderr
        print(f"ssdk new -> first page served: {time.monotonic() - t_new:.2f} s")
        # A slow download of the big file, started before the edit.
        out = tmp_path / "big.out"
        big_url = url.rstrip("/") + "/static/big.bin"
        download = subprocess.Popen(
            ["ip", "netns", "exec", namespace, "curl", "-sS", "--fail", "--limit-rate", "8M",
             "-o", str(out), big_url], stderr=subprocess.PIPE)  # fmt: skip
        time.sleep(0.5)
        post = proj / "posts" / "hello-world.md"
        marker = f"edited-{os.getpid()}-{time.time_ns()}"
        post.write_text(post.read_text() + f"\n{marker}\n")
        saved = time.monotonic()
        while marker not in curl("/posts/hello-world").stdout:
            assert time.monotonic() - saved < 30, "the edit was not served:\n" + "".join(lines)
            time.sleep(0.05)
        print(f"save -> new text served: {time.monotonic() - saved:.2f} s")
        assert download.poll() is None, "the download ended before the swap; make it slower"
        assert download.wait(120) == 0, download.stderr.read() if download.stderr else ""
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(big).digest()
        assert "swapped in" in "".join(lines)
    finally:
        dev.terminate()
        dev.wait(30)
    assert "stopped" in "".join(lines)
    assert not list((proj / ".ssdk").glob("*.ssdk")), "ssdk dev left its builds behind"
