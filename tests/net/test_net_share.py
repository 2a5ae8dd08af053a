# tests/net/test_net_share.py: ssdk shares its interface with the kernel (docs/sharing.md),
# on AF_PACKET and AF_XDP alike:
#
# - ssdk serves port 80 of an address the kernel holds too, while sshd answers port 22
#   of it: the banner names the nftables rule, SSH keeps answering, ARP and ping stay
#   the kernel's, and at exit (SIGTERM) the rule and the XDP program are gone;
# - nginx, on the kernel's own address of the same interface, keeps answering HTTP while
#   ssdk serves its own address (ARP and ping for it are then ssdk's);
# - the XDP program, run by the kernel on each frame of tests/unit/test_sockfilter.py's
#   table (BPF_PROG_TEST_RUN, xdp_verdicts.py), redirects exactly the frames the
#   AF_PACKET socket filter accepts.
#
# Each test makes its own namespaces and veth pair (named with the pid), writes its sshd
# or nginx configuration, and removes everything also on failure. Without root it
# skips; under CI=true a missing tool fails.
from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nethelpers import (
    BACKENDS,
    Server,
    _env,
    file_sha256,
    require_backend,
    serve,
    sha256,
    unavailable,
)

from ssdk.tools.netns import Topology, kernel_owns_server_ip, ns_exec, veth_pair

pytestmark = pytest.mark.net

PING = Path(__file__).with_name("icmp_ping.py")
VERDICTS = Path(__file__).with_name("xdp_verdicts.py")
XDP_PASS, XDP_REDIRECT = 2, 4
NGINX_IP = "198.18.0.3"  # the kernel's own address on the served interface
READY_S = 15.0


def need(*tools: str) -> dict[str, str]:
    """The tools' paths; skipped without them (a failure under CI=true)."""
    found = {t: shutil.which(t) for t in tools}
    missing = [t for t, path in found.items() if path is None]
    if missing:
        unavailable(f"missing tools: {', '.join(missing)} (./demo installs them)")
    return {t: str(path) for t, path in found.items()}


def run_in(ns: str, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ns_exec(ns, argv), capture_output=True, text=True, timeout=timeout, check=False
    )


def banner_of(topo: Topology, ip: str, port: int) -> str:
    """The first line a TCP server at ip:port sends, read from the client namespace
    ("" when none came in 3 s)."""
    code = (
        "import socket,sys\n"
        "try:\n"
        f"    s = socket.create_connection(({ip!r}, {port}), timeout=3)\n"
        "    sys.stdout.write((s.recv(256).decode(errors='replace').splitlines() or [''])[0])\n"
        "except OSError:\n"
        "    pass\n"
    )
    return run_in(topo.client_ns, [sys.executable, "-c", code]).stdout


def ping(topo: Topology, ip: str, count: int = 2) -> list[float | None]:
    proc = run_in(topo.client_ns, [sys.executable, str(PING), ip, str(count)])
    assert proc.returncode == 0, proc.stderr
    rtts: list[float | None] = json.loads(proc.stdout)
    return rtts


def wait_for(check: Any, what: str, timeout: float = READY_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout} s")
        time.sleep(0.1)


@contextlib.contextmanager
def stopped(proc: subprocess.Popen[str], sig: signal.Signals) -> Iterator[None]:
    """Stop ``proc`` with ``sig`` when the block ends, SIGKILL if it lingers."""
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def sshd(topo: Topology, tmp: Path) -> Iterator[None]:
    """sshd on port 22 of the server address, in the server namespace, with a host key
    and a configuration of this test's own (no logins: only its banner is wanted)."""
    tools = need("sshd", "ssh-keygen")
    key = tmp / "ssh_host_ed25519_key"
    made = subprocess.run(
        [tools["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    conf = tmp / "sshd_config"
    conf.write_text(
        f"Port 22\nListenAddress {topo.server_ip}\nHostKey {key}\nPidFile {tmp}/sshd.pid\n"
        "UsePAM no\nStrictModes no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nAuthorizedKeysFile none\n"
    )
    # sshd refuses to start without its privilege separation folder (the service's
    # RuntimeDirectory makes it at boot; nothing here runs the service).
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    check = run_in(topo.server_ns, [tools["sshd"], "-t", "-f", str(conf)])
    assert check.returncode == 0, f"sshd -t: {check.stderr}"
    log = (tmp / "sshd.log").open("w")
    proc = subprocess.Popen(
        ns_exec(topo.server_ns, [tools["sshd"], "-D", "-e", "-f", str(conf)]),
        stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    with log, stopped(proc, signal.SIGTERM):
        wait_for(lambda: banner_of(topo, topo.server_ip, 22).startswith("SSH-2.0"), "sshd")
        yield


@contextlib.contextmanager
def nginx(topo: Topology, tmp: Path, body: bytes) -> Iterator[None]:
    """nginx at NGINX_IP:80 (the kernel's address on the served interface), serving
    ``body`` as /index.html."""
    tools = need("nginx")
    tmp = tmp / "nginx"  # its temporary folders, apart from the test's files
    www = tmp / "www"
    www.mkdir(parents=True)
    (www / "index.html").write_bytes(body)
    conf = tmp / "nginx.conf"
    conf.write_text(
        "worker_processes 1;\ndaemon off;\nuser root;\n"
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/nginx-error.log warn;\n"
        "events { worker_connections 64; }\n"
        "http {\n    access_log off;\n"
        f"    client_body_temp_path {tmp}/body;\n    proxy_temp_path {tmp}/proxy;\n"
        f"    fastcgi_temp_path {tmp}/fastcgi;\n    uwsgi_temp_path {tmp}/uwsgi;\n"
        f"    scgi_temp_path {tmp}/scgi;\n"
        f"    server {{ listen {NGINX_IP}:80; root {www}; index index.html; }}\n"
        "}\n"
    )
    log = (tmp / "nginx.log").open("w")
    proc = subprocess.Popen(
        ns_exec(topo.server_ns, [tools["nginx"], "-p", str(tmp), "-c", str(conf)]),
        stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    with log, stopped(proc, signal.SIGQUIT):
        wait_for(lambda: curl(topo, f"http://{NGINX_IP}/", tmp / "probe").returncode == 0,
                 "nginx")  # fmt: skip
        yield


@contextlib.contextmanager
def kernel_address(topo: Topology, cidr: str) -> Iterator[None]:
    run = ["ip", "-n", topo.server_ns, "addr"]
    subprocess.run([*run, "add", cidr, "dev", topo.server_if], check=True, timeout=30)
    try:
        yield
    finally:
        subprocess.run([*run, "del", cidr, "dev", topo.server_if], check=False, timeout=30)


def curl(topo: Topology, url: str, out: Path) -> subprocess.CompletedProcess[str]:
    return run_in(topo.client_ns, ["curl", "-sS", "--fail", "--max-time", "10", "-o", str(out),
                                   url])  # fmt: skip


def left_behind(topo: Topology) -> dict[str, str]:
    """What the server namespace holds of ssdk's after it stopped: its nftables tables
    and the XDP program on the interface."""
    tables = run_in(topo.server_ns, ["nft", "list", "tables"]).stdout
    link = run_in(topo.server_ns, ["ip", "-d", "link", "show", "dev", topo.server_if]).stdout
    return {
        "tables": " ".join(re.findall(r"ssdk_\d+", tables)),
        "xdp": " ".join(re.findall(r"prog/xdp.*", link)),
    }


@contextlib.contextmanager
def afterwards(topo: Topology, into: dict[str, str]) -> Iterator[None]:
    """Note what is left_behind once the server has stopped (the namespaces are still
    there: they go after every `beside` is left)."""
    yield
    into.update(left_behind(topo))


def check_served(server: Server, expected: dict[str, bytes], tmp: Path) -> None:
    for path in ("/", "/files/f64k.bin"):
        out = tmp / "body"
        proc = server.curl_to(path, out)
        assert proc.returncode == 0, f"curl {path}: {proc.stderr}\n{server.log_tail()}"
        assert file_sha256(out) == sha256(expected[path]), path


@pytest.mark.parametrize("backend", BACKENDS)
def test_sshd_answers_port_22_of_the_address_ssdk_serves_port_80_of(
    net_ready: None, bundle: Path, expected: dict[str, bytes], tmp_path: Path, backend: str
) -> None:
    require_backend(backend)
    need("nft", "sshd")
    left: dict[str, str] = {}

    @contextlib.contextmanager
    def beside(topo: Topology) -> Iterator[None]:
        with afterwards(topo, left), kernel_owns_server_ip(topo), sshd(topo, tmp_path):
            yield

    with serve(bundle, tmp_path, tag="share", backend=backend, stop=signal.SIGTERM,
               beside=beside) as server:  # fmt: skip
        topo = server.topo
        out = server.output()
        rule = re.search(r"nftables table ip (ssdk_\d+): prerouting `(.*?)`.*removed at exit", out)
        assert rule, out
        assert rule.group(2) == f"ip daddr {topo.server_ip} tcp dport 80 drop", out
        assert "ARP, ping and its other ports stay the kernel's" in out, out
        listed = run_in(topo.server_ns, ["nft", "list", "table", "ip", rule.group(1)]).stdout
        assert f"ip daddr {topo.server_ip} tcp dport 80 drop" in listed, listed
        check_served(server, expected, tmp_path)
        assert banner_of(topo, topo.server_ip, 22).startswith("SSH-2.0"), server.log_tail()
        keys = run_in(topo.client_ns, ["ssh-keyscan", "-T", "5", "-t", "ed25519",
                                       topo.server_ip])  # fmt: skip
        assert "ssh-ed25519" in keys.stdout, keys.stderr
        assert all(rtt is not None for rtt in ping(topo, topo.server_ip)), "the kernel's ping"
        check_served(server, expected, tmp_path)  # the SSH traffic took nothing from ssdk
        stats = server.stats(fresh=True)
        # The kernel answered ARP and ping; ssdk saw no frame of sshd's.
        assert stats["arp_replies"] == 0 and stats["icmp_echo_replies"] == 0, stats
        assert stats["rst_sent"] == 0 and stats["drop_tcp_port"] == 0, stats
        if backend == "af_xdp":
            assert "XDP program ssdk_share on" in out, out
            assert "ssdk_share" in left_behind(topo)["xdp"]
        else:
            assert f"socket filter on {topo.server_if}" in out, out
    assert left == {"tables": "", "xdp": ""}, left


@pytest.mark.parametrize("backend", BACKENDS)
def test_nginx_at_the_kernels_address_keeps_answering_beside_ssdk(
    net_ready: None, bundle: Path, expected: dict[str, bytes], tmp_path: Path, backend: str
) -> None:
    require_backend(backend)
    body = b"<h1>nginx beside ssdk</h1>\n" * 100
    left: dict[str, str] = {}

    @contextlib.contextmanager
    def beside(topo: Topology) -> Iterator[None]:
        with afterwards(topo, left), kernel_address(topo, f"{NGINX_IP}/15"), \
                nginx(topo, tmp_path, body):  # fmt: skip
            yield

    with serve(bundle, tmp_path, tag="shareng", backend=backend, beside=beside) as server:
        topo = server.topo
        out = server.output()
        assert "nftables" not in out, out  # the kernel does not hold ssdk's address
        assert f"{topo.server_ip} TCP port 80, ARP and ICMP for it" in out, out
        check_served(server, expected, tmp_path)
        got = tmp_path / "nginx-body"
        proc = curl(topo, f"http://{NGINX_IP}/", got)
        assert proc.returncode == 0, proc.stderr
        assert got.read_bytes() == body
        assert all(rtt is not None for rtt in ping(topo, NGINX_IP)), "the kernel's ping"
        assert all(rtt is not None for rtt in ping(topo, topo.server_ip)), "ssdk's ping"
        check_served(server, expected, tmp_path)
        stats = server.stats(fresh=True)
        # ssdk answered ARP and ping for its own address, and saw nothing of nginx's.
        assert stats["arp_replies"] >= 1 and stats["icmp_echo_replies"] >= 2, stats
        assert stats["drop_not_ours"] == 0 and stats["rst_sent"] == 0, stats
    assert left == {"tables": "", "xdp": ""}, left


def sockfilter_frames() -> list[tuple[str, bytes, bool, bool]]:
    """tests/unit/test_sockfilter.py's table: (what, frame, taken when the kernel does not
    hold the address, taken when it does)."""
    path = Path(__file__).resolve().parents[1] / "unit" / "test_sockfilter.py"
    spec = importlib.util.spec_from_file_location("_sockfilter_cases", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frames: list[tuple[str, bytes, bool, bool]] = module.FRAMES
    return frames


def test_the_xdp_program_takes_what_the_socket_filter_takes(net_ready: None) -> None:
    require_backend("af_xdp")
    need("clang")
    frames = sockfilter_frames()
    stdin = "\n".join(f[1].hex() for f in frames)
    with veth_pair("sharev") as topo:
        for arp_icmp, column in ((True, 2), (False, 3)):
            proc = subprocess.run(
                ns_exec(topo.server_ns, [sys.executable, str(VERDICTS), topo.server_if,
                                         topo.server_ip, "80", str(int(arp_icmp))]),
                input=stdin, capture_output=True, text=True, timeout=60, env=_env(),
                check=False,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            got = json.loads(proc.stdout)
            want = [XDP_REDIRECT if f[column] else XDP_PASS for f in frames]
            wrong = [(f[0], g, w) for f, g, w in zip(frames, got, want, strict=True) if g != w]
            assert not wrong, (arp_icmp, wrong)
            # The program came off the interface again.
            assert "prog/xdp" not in left_behind(topo)["xdp"]
