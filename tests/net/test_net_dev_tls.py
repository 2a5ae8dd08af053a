# tests/net/test_net_dev_tls.py: `ssdk dev --tls` on its TAP device (its own stack), in a
# network namespace made for the test: dev makes its self-signed certificate and prints
# how to trust it; that very curl command, run in the namespace, gets the page over
# HTTPS from ssdk's stack, and a dynamic route's answer too. A second start reuses the
# certificate. Everything the test made goes, also when it fails.
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import HELLO, REPO, start_until_ready, unavailable

from ssdk.tools.netns import _delete_ns, _new_ns

pytestmark = pytest.mark.net

ECHO = '''

@app.dynamic("/echo")
def echo(req: ssdk.Request) -> ssdk.Response:
    return ssdk.text("echo " + req.query.get("q", ""))
'''


@pytest.fixture
def namespace() -> Iterator[str]:
    if os.geteuid() != 0:
        unavailable("ssdk dev on a TAP device needs root")
    ns = f"ssdk-devtls-{os.getpid()}-{time.monotonic_ns() % 100000}"
    try:
        _new_ns(ns)
        yield ns
    finally:
        _delete_ns(ns)


def start_dev(ns: str, proj: Path) -> tuple[subprocess.Popen[str], list[str]]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "ssdk", "dev", "--tls"]
    return start_until_ready(argv, proj, env)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_dev_serves_https_with_its_own_certificate(namespace: str, tmp_path: Path) -> None:
    proj = tmp_path / "hello"
    shutil.copytree(HELLO, proj)
    with (proj / "app.py").open("a") as f:
        f.write(ECHO)
    for run in ("made now", "reused"):
        proc, lines = start_dev(namespace, proj)
        try:
            out = "".join(lines)
            m = re.search(r"trust it with (curl --cacert \S+ (https://\S+));", out)
            assert m is not None and run in out, out
            curl = shlex.split(m.group(1))
            got = subprocess.run(["ip", "netns", "exec", namespace, *curl[:1], "-sS",
                                  "--fail", "--max-time", "20", *curl[1:]],
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
            assert got.returncode == 0 and "<h1>hello</h1>" in got.stdout, got.stderr + out
            base = m.group(2).rstrip("/")
            got = subprocess.run(["ip", "netns", "exec", namespace, *curl[:3], "-sS", "--fail",
                                  "--max-time", "20", f"{base}/echo?q=tls"],
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
            assert got.returncode == 0 and got.stdout == "echo tls", got.stderr + out
        finally:
            stop(proc)
