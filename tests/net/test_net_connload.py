# tests/net/test_net_connload.py: 10,000 connections held at once (issue 18 part 4), on
# AF_PACKET and AF_XDP. bench/connload opens them from raw frames in the client
# namespace, from addresses its kernel does not own, one GET each (a 1 KiB and a 20 KiB
# file in turn); every body must be byte-exact (length and CRC32C), the server must
# count 10,000 active connections while they are held, a fresh curl must still be
# answered, and once the generator resets them the server must be back to none. The
# client kernel must have stayed out: it dropped the replies to those addresses and sent
# no RST. A kernel that owns one of the addresses makes the generator refuse to start.
from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nethelpers import (
    BACKENDS,
    Server,
    build_bundle,
    random_files,
    require_backend,
    serve,
    unavailable,
    write_app,
)

from bench.connload import Load, build, crc32c
from ssdk.tools.netns import ns_exec, veth_pair

pytestmark = pytest.mark.net

CONNS = 10_000
POOL = 20_000
SRC_NET = "198.19.0.0/16"  # outside 198.18.0.0/16, where the client and server addresses are
FILES = {"f1k.bin": 1024, "f20k.bin": 20 * 1024}
OPEN_TIMEOUT_S = 90  # on two busy cores; 10,000 take well under a second when idle
EXIT_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def connload(net_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        unavailable("gcc is not installed (bench/connload is built with it)")
    try:
        return build(tmp_path_factory.mktemp("connload"))
    except subprocess.CalledProcessError as e:
        pytest.fail(f"bench/connload did not build:\n{e.stderr}", pytrace=False)


@pytest.fixture(scope="module")
def small_app(net_ready: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(bundle, its public folder): the hello example plus the two files of random bytes."""
    app_dir = tmp_path_factory.mktemp("clapp")
    write_app(app_dir, random_files(FILES))
    return build_bundle(app_dir / "app.py", app_dir / "app.ssdk"), app_dir / "public"


@pytest.fixture(params=BACKENDS)
def big_pool(request: pytest.FixtureRequest, small_app: tuple[Path, Path],
             tmp_path: Path) -> Iterator[Server]:  # fmt: skip
    require_backend(request.param)
    tag = "clx" if request.param == "af_xdp" else "cl"
    with serve(small_app[0], tmp_path, "--max-conns", str(POOL), tag=tag,
               backend=request.param) as s:  # fmt: skip
        yield s


def snmp(ns: str) -> dict[str, int]:
    """The Ip and Tcp counters of namespace ``ns`` ("Ip.InAddrErrors", "Tcp.OutRsts")."""
    text = subprocess.run(
        ns_exec(ns, ["cat", "/proc/net/snmp"]), capture_output=True, text=True, check=True
    ).stdout
    lines = text.splitlines()
    out: dict[str, int] = {}
    for head, vals in zip(lines[::2], lines[1::2], strict=False):
        names, values = head.split(), vals.split()
        if names and names[0] in ("Ip:", "Tcp:"):
            for n, v in zip(names[1:], values[1:], strict=False):
                out[f"{names[0][:-1]}.{n}"] = int(v)
    return out


def until(gen: Load, event: str, timeout: float) -> dict[str, Any]:
    """connload's next ``event`` line; fails with what it said last and its stderr."""
    ev = gen.until(event, timeout)
    assert ev is not None, f"no {event!r} line; so far: {gen.seen[-3:]}\n{gen.stderr()}"
    return ev


def test_ten_thousand_connections_held(
    big_pool: Server, small_app: tuple[Path, Path], connload: Path, tmp_path: Path
) -> None:
    server, (_, public) = big_pool, small_app
    topo = server.topo
    gets = [f"/files/{name}={public / name}" for name in FILES]
    argv = [str(connload), "--iface", topo.client_if, "--server", topo.server_ip]
    argv += ["--conns", str(CONNS), "--src-net", SRC_NET, "--hold", "-1", "--reset"]
    argv += ["--open-timeout", str(OPEN_TIMEOUT_S)]
    for g in gets:
        argv += ["--get", g]
    kernel0 = snmp(topo.client_ns)
    gen = Load(ns_exec(topo.client_ns, argv), tmp_path / "connload.err")
    try:
        start = until(gen, "start", 30)
        # The generator's checksums are the ones Python computes from the files.
        want = {f"/files/{n}": (public / n).read_bytes() for n in FILES}
        assert {t["path"]: (t["len"], int(t["crc32c"], 16)) for t in start["targets"]} == {
            p: (len(b), crc32c(b)) for p, b in want.items()
        }, start
        assert start["server_mac"] == topo.server_mac, start  # learned by ARP
        holding = until(gen, "holding", OPEN_TIMEOUT_S + 30)
        assert holding["held"] == CONNS, gen.seen[-2:]  # with the counts of the line before
        held = server.wait_stats("conns_active", CONNS)
        assert held["conns_opened"] == CONNS, held
        fresh = public.parent / "fresh.bin"
        curl = server.curl_to("/files/f20k.bin", fresh, "--max-time", "10")
        assert curl.returncode == 0, f"curl while {CONNS} are held: {curl.stderr}"
        assert fresh.read_bytes() == want["/files/f20k.bin"]
        gen.proc.send_signal(signal.SIGINT)
        final = until(gen, "final", EXIT_TIMEOUT_S)
        assert gen.proc.wait(timeout=EXIT_TIMEOUT_S) == 0, final
    finally:
        gen.stop()
    assert final["answered"] == CONNS and final["errors"] == 0, final
    assert set(final["error_kinds"].values()) == {0}, final
    assert final["body_bytes"] == CONNS // 2 * sum(FILES.values()), final
    assert final["reset_after_answer"] == final["closed_after_answer"] == 0, final
    assert final["reset_at_exit"] == CONNS, final
    server.wait_stats("conns_active", 0)
    # The client's kernel saw the replies to 198.19.0.0/16, dropped them as not its own,
    # and reset nothing (curl's one connection ends with FINs).
    kernel = snmp(topo.client_ns)
    assert kernel["Tcp.OutRsts"] == kernel0["Tcp.OutRsts"], (kernel0, kernel)
    assert kernel["Ip.InAddrErrors"] - kernel0["Ip.InAddrErrors"] >= 2 * CONNS, kernel


def test_an_address_of_the_client_kernel_is_refused(connload: Path, tmp_path: Path) -> None:
    # No server: the generator must stop before it sends a frame.
    with veth_pair("clown") as topo:
        subprocess.run(
            ["ip", "-n", topo.client_ns, "addr", "add", "198.19.0.7/32", "dev", topo.client_if],
            check=True,
        )
        body = tmp_path / "b.bin"
        body.write_bytes(b"x")
        argv = [str(connload), "--iface", topo.client_if, "--server", topo.server_ip]
        argv += ["--conns", "100", "--src-net", SRC_NET, "--addrs", "10"]
        argv += ["--get", f"/b.bin={body}"]
        proc = subprocess.run(ns_exec(topo.client_ns, argv), capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip
    assert proc.returncode == 2, proc
    assert "198.19.0.7 is this namespace's own address" in proc.stderr, proc.stderr
    assert proc.stdout == "", proc.stdout
