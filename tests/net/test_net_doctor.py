# tests/net/test_net_doctor.py: `ssdk doctor` and serve's checks on real interfaces, each
# broken on purpose in namespaces made here: an interface that does not exist, one that
# is down, too few queues for --workers, an XDP program already attached (an AF_XDP
# server's), the kernel holding --ip without nft, capabilities dropped (setpriv), RLIMIT_MEMLOCK
# lowered (prlimit), and this host's own kernel, which cannot reach ssdk through the
# interface ssdk serves. Where a check claims something about the kernel, the test also
# shows it true: the AF_XDP socket the memlock check refuses really fails, and curl from
# the server's own namespace really gets no answer while one from the peer does.
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import HELLO, Server, _env, require_backend, serve, unavailable

from ssdk.tools.netns import Topology, kernel_owns_server_ip, ns_exec, veth_pair

APP = HELLO / "app.py"


@pytest.fixture
def topo(net_ready: None) -> Iterator[Topology]:
    with veth_pair("doc") as t:
        yield t


def ssdk_in(ns: str, *argv: str, pre: tuple[str, ...] = (), timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """`python -m ssdk ARGV` in namespace ``ns``, behind ``pre`` (setpriv, prlimit)."""
    return subprocess.run(ns_exec(ns, [*pre, sys.executable, "-m", "ssdk", *argv]),
                          capture_output=True, text=True, env=_env(), timeout=timeout)  # fmt: skip


def doctor(topo: Topology, *argv: str, pre: tuple[str, ...] = ()) -> tuple[int, dict[str, dict]]:
    """Run ssdk doctor --json in the server namespace: its exit code, checks by name."""
    proc = ssdk_in(topo.server_ns, "doctor", "--json", *argv, pre=pre)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    return proc.returncode, {c["name"]: c for c in data["checks"]}


def on_server_if(topo: Topology, *argv: str) -> tuple[str, ...]:
    return ("--iface", topo.server_if, "--ip", topo.server_cidr, *argv)


def need_tool(name: str) -> None:
    if shutil.which(name) is None:
        unavailable(f"{name} is not installed (util-linux)")


def test_a_good_veth_passes(topo: Topology) -> None:
    code, checks = doctor(topo, *on_server_if(topo))
    assert code == 0, checks
    bad = {n: c for n, c in checks.items() if c["status"] in ("fail", "warn")}
    assert not bad, bad
    assert checks["interface"]["status"] == "ok" and checks["own-host"]["status"] == "ok"


def test_an_interface_that_does_not_exist(topo: Topology) -> None:
    name = f"nx{os.getpid()}"
    code, checks = doctor(topo, "--iface", name)
    assert code == 1
    assert checks["interface"]["status"] == "fail"
    assert f"no interface named {name}" in checks["interface"]["finding"]
    assert checks["queues"]["status"] == "skip"


def test_an_interface_that_is_down_fails_and_stops_serve(topo: Topology) -> None:
    subprocess.run(["ip", "-n", topo.server_ns, "link", "set", topo.server_if, "down"],
                   check=True)  # fmt: skip
    code, checks = doctor(topo, *on_server_if(topo))
    assert code == 1
    assert checks["interface"]["status"] == "fail"
    assert checks["interface"]["fix"] == f"ip link set {topo.server_if} up"
    # serve stops with the same line, at once, instead of serving a dead interface.
    began = time.monotonic()
    proc = ssdk_in(topo.server_ns, "serve", str(APP), *on_server_if(topo), timeout=30)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"ssdk: error: {topo.server_if} is down; fix: ip link set {topo.server_if} up")
    assert "Traceback" not in proc.stderr and "ready" not in proc.stdout
    assert time.monotonic() - began < 10


def test_too_few_queues_for_the_workers(topo: Topology) -> None:
    require_backend("af_xdp")
    code, checks = doctor(topo, *on_server_if(topo, "--backend", "af_xdp", "--workers", "2"))
    assert code == 1
    q = checks["queues"]
    assert q["status"] == "fail" and "needs queues 0 to 1" in q["finding"], q
    assert q["fix"] == "--workers 1"
    proc = ssdk_in(topo.server_ns, "serve", str(APP),
                   *on_server_if(topo, "--backend", "af_xdp", "--workers", "2"))  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "needs queues 0 to 1" in proc.stderr and "Traceback" not in proc.stderr


def test_the_kernel_holding_the_address_needs_nft(topo: Topology) -> None:
    # ssdk shares an address the kernel holds (tests/net/test_net_share.py serves so);
    # what it cannot do without is nft, which keeps the kernel's TCP off ssdk's port.
    need_tool("nft")
    no_nft = ("env", "PATH=/usr/bin:/bin") if not Path("/usr/bin/nft").exists() else None
    with kernel_owns_server_ip(topo):
        code, checks = doctor(topo, *on_server_if(topo))
        a = checks["address"]
        assert code == 0 and a["status"] == "ok", a
        assert f"the kernel holds {topo.server_ip} too" in a["finding"], a
        assert "nftables rule" in a["finding"], a
        if no_nft is not None:  # nft where Debian puts it, /usr/sbin: left off PATH
            code, checks = doctor(topo, *on_server_if(topo), pre=no_nft)
            a = checks["address"]
            assert code == 1 and a["status"] == "fail" and "there is no nft" in a["finding"]
            assert a["fix"] == (f"apt-get install nftables, or ip addr del {topo.server_cidr} "
                                f"dev {topo.server_if}")  # fmt: skip
            proc = ssdk_in(topo.server_ns, "serve", str(APP), *on_server_if(topo), pre=no_nft)
            assert proc.returncode == 1 and "resets ssdk's connections" in proc.stderr
    code, checks = doctor(topo, *on_server_if(topo))
    assert code == 0 and checks["address"]["finding"].startswith("the kernel does not hold")


def test_dropped_capabilities(topo: Topology) -> None:
    need_tool("setpriv")
    drop = ("setpriv", "--inh-caps=-all", "--bounding-set=-all", "--")
    for backend, missing in (("af_packet", "CAP_NET_RAW"), ("af_xdp", "CAP_BPF")):
        if backend == "af_xdp":
            require_backend(backend)
        code, checks = doctor(topo, *on_server_if(topo, "--backend", backend), pre=drop)
        assert code == 1
        p = checks["privileges"]
        assert p["status"] == "fail" and missing in p["finding"], p
    proc = ssdk_in(topo.server_ns, "serve", str(APP), *on_server_if(topo), pre=drop)
    assert proc.returncode == 1 and "CAP_NET_RAW missing" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_memlock_too_low_for_the_umem(topo: Topology) -> None:
    require_backend("af_xdp")
    need_tool("setpriv")
    need_tool("prlimit")
    # Without CAP_IPC_LOCK the UMEM (8 MiB a worker) is charged to RLIMIT_MEMLOCK.
    low = ("prlimit", f"--memlock={4 << 20}", "setpriv", "--bounding-set=-ipc_lock", "--")
    xdp = on_server_if(topo, "--backend", "af_xdp")
    code, checks = doctor(topo, *xdp, pre=low)
    assert code == 1
    m = checks["memlock"]
    assert m["status"] == "fail" and "RLIMIT_MEMLOCK is 4 MiB" in m["finding"], m
    assert "ulimit -l 8192" in m["fix"]
    # What the check foresees: the kernel refuses the AF_XDP socket (ENOBUFS).
    attach = ("from ssdk.core.runtime.engine import Engine, EngineConfig\n"
              "with Engine(EngineConfig(ip='198.18.0.2')) as e:\n"
              f"    e.attach_af_xdp({topo.server_if!r})\n")  # fmt: skip
    proc = subprocess.run(ns_exec(topo.server_ns, [*low, sys.executable, "-c", attach]),
                          capture_output=True, text=True, env=_env(), timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "No buffer space available" in proc.stderr, proc.stderr
    # With CAP_IPC_LOCK the same limit does not matter.
    code, checks = doctor(topo, *xdp, pre=("prlimit", f"--memlock={4 << 20}"))
    assert checks["memlock"]["status"] == "ok", checks["memlock"]


def test_an_xdp_program_already_attached(net_ready: None, tmp_path: Path) -> None:
    require_backend("af_xdp")
    with serve(APP, tmp_path, tag="docx", backend="af_xdp", queues=2) as server:
        topo = server.topo
        code, checks = doctor(topo, *on_server_if(topo, "--backend", "af_xdp"))
        x = checks["xdp-program"]
        if "xdp_dispatcher" in x["finding"]:  # bpffs and a kernel that lets libxdp chain
            assert x["status"] == "warn" and "chains ssdk's program" in x["finding"], x
        else:  # ssdk's program holds the interface alone: a second serve cannot join it
            assert code == 1 and x["status"] == "fail" and "ssdk_share" in x["finding"], x
            assert "another ssdk serve is running there" in x["finding"]
        # For AF_PACKET, a program that sees every frame first is worth a warning too.
        code, checks = doctor(topo, *on_server_if(topo))
        assert checks["xdp-program"]["status"] == "warn"
        assert "never reaches ssdk" in checks["xdp-program"]["finding"]
    with veth_pair("docx") as fresh:
        _, checks = doctor(fresh, *on_server_if(fresh, "--backend", "af_xdp"))
        assert checks["xdp-program"]["status"] == "ok"


def test_this_hosts_own_kernel_cannot_reach_ssdk(net_ready: None, tmp_path: Path) -> None:
    with serve(APP, tmp_path, tag="doch") as server:
        topo = server.topo
        # Give the server's kernel an address of its own in ssdk's subnet, so that it
        # routes ssdk's address out of the served interface, as a host on that link does.
        other = "198.18.0.3/15"
        subprocess.run(["ip", "-n", topo.server_ns, "addr", "add", other, "dev",
                        topo.server_if], check=True)  # fmt: skip
        code, checks = doctor(topo, *on_server_if(topo))
        h = checks["own-host"]
        assert h["status"] == "warn" and "ssdk cannot see its frames" in h["finding"], h
        assert "ssdk dev" in h["fix"]
        # And so it is: the peer's curl is answered, the host's own is not.
        assert wait_answered(server, topo.client_ns), server.log_tail()
        mine = subprocess.run(ns_exec(topo.server_ns, ["curl", "-sS", "--max-time", "3",
                                                       server.url("/")]),
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        assert mine.returncode != 0, mine.stdout
        subprocess.run(["ip", "-n", topo.server_ns, "addr", "del", other, "dev",
                        topo.server_if], check=True)  # fmt: skip


def wait_answered(server: Server, ns: str) -> bool:
    for _ in range(3):
        proc = subprocess.run(ns_exec(ns, ["curl", "-sS", "--fail", "--max-time", "5",
                                           server.url("/")]),
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        if proc.returncode == 0 and "hello" in proc.stdout:
            return True
    return False
