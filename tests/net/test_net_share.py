# tests/net/test_net_share.py: ssdk shares its interface with the kernel (docs/sharing.md),
# on AF_PACKET and AF_XDP alike:
#
# - ssdk serves port 80 of an address the kernel holds too, while sshd answers port 22
#   of it: the banner names the nftables rule, SSH keeps answering, ARP and ping stay
#   the kernel's, and at exit (SIGTERM) the rule and the XDP program are gone;
# - nginx, on the kernel's own address of the same interface, keeps answering HTTP while
#   ssdk serves its own address (ARP and ping for it are then ssdk's);
# - the XDP program, run by the kernel on each frame of tests/unit/test_sockfilter.py's
#   tables, IPv4 and IPv6 (BPF_PROG_TEST_RUN, xdp_verdicts.py), in native and in SKB
#   mode, redirects exactly the frames the AF_PACKET socket filter accepts there; and
#   the socket filter, on a real packet socket, gets exactly those frames when they
#   cross the veth;
# - IPv6 beside the XDP program: while it holds ssdk's IPv6 address and port, the
#   kernel's own IPv6 (sshd, ping, neighbour discovery) on the same interface keeps
#   answering, on another address and on ssdk's own when the kernel holds it too, and
#   ssdk's port reaches only ssdk's socket;
# - the nftables rules for IPv6 (ssdk/share.py): without them the kernel resets ssdk's
#   port on an address it holds, and forwards (with redirects and unreachables) what
#   comes for one it does not; with them it does neither.
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

from ssdk.tools.netns import (
    Topology,
    kernel_address,
    kernel_owns_server_ip,
    ns_exec,
    veth_pair,
)

pytestmark = pytest.mark.net

PING = Path(__file__).with_name("icmp_ping.py")
VERDICTS = Path(__file__).with_name("xdp_verdicts.py")
RAW_FRAMES = Path(__file__).with_name("raw_frames.py")
XDP_PASS, XDP_REDIRECT = 2, 4
NGINX_IP = "198.18.0.3"  # the kernel's own address on the served interface
KERNEL_IP6 = "2001:2::3"  # likewise, for IPv6
XDP_MODES = ("native", "skb")
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
def sshd(topo: Topology, tmp: Path, addrs: tuple[str, ...] = ()) -> Iterator[None]:
    """sshd on port 22 of the server address (or of ``addrs``, IPv4 or IPv6), in the
    server namespace, with a host key and a configuration of this test's own (no logins:
    only its banner is wanted)."""
    addrs = addrs or (topo.server_ip,)
    tools = need("sshd", "ssh-keygen")
    key = tmp / "ssh_host_ed25519_key"
    made = subprocess.run(
        [tools["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    conf = tmp / "sshd_config"
    conf.write_text(
        "Port 22\n" + "".join(f"ListenAddress {a}\n" for a in addrs)
        + f"HostKey {key}\nPidFile {tmp}/sshd.pid\n"
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
        for a in addrs:
            wait_for(lambda a=a: banner_of(topo, a, 22).startswith("SSH-2.0"), f"sshd on {a}")
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
        cidr = f"{NGINX_IP}/15"
        with afterwards(topo, left), kernel_address(topo.server_ns, topo.server_if, cidr), \
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
    """tests/unit/test_sockfilter.py's tables, IPv4 and IPv6: (what, frame, taken when
    the kernel does not hold the address, taken when it does). The addresses are those
    veth_pair gives the server (checked by the tests)."""
    module = _sockfilter_cases()
    frames: list[tuple[str, bytes, bool, bool]] = module.FRAMES + module.FRAMES6
    return frames


def _sockfilter_cases() -> Any:
    path = Path(__file__).resolve().parents[1] / "unit" / "test_sockfilter.py"
    spec = importlib.util.spec_from_file_location("_sockfilter_cases", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def served_addresses(topo: Topology) -> list[str]:
    """ssdk's two addresses on ``topo``, which the tables' frames are addressed to."""
    cases = _sockfilter_cases()
    assert (topo.server_ip, topo.server_ip6) == (cases.SSDK_IP, cases.SSDK_IP6)
    return [topo.server_ip, str(topo.server_ip6)]


@pytest.mark.parametrize("mode", XDP_MODES)
def test_the_xdp_program_takes_what_the_socket_filter_takes(net_ready: None, mode: str) -> None:
    require_backend("af_xdp")
    need("clang")
    frames = sockfilter_frames()
    stdin = "\n".join(f[1].hex() for f in frames)
    with veth_pair("sharev", ipv6=True) as topo:
        for arp_icmp, column in ((True, 2), (False, 3)):
            proc = subprocess.run(
                ns_exec(topo.server_ns, [sys.executable, str(VERDICTS), topo.server_if, "80",
                                         str(int(arp_icmp)), mode, *served_addresses(topo)]),
                input=stdin, capture_output=True, text=True, timeout=60, env=_env(),
                check=False,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            got = json.loads(proc.stdout)
            want = [XDP_REDIRECT if f[column] else XDP_PASS for f in frames]
            wrong = [(f[0], g, w) for f, g, w in zip(frames, got, want, strict=True) if g != w]
            assert not wrong, (mode, arp_icmp, wrong)
            # The program came off the interface again.
            assert "prog/xdp" not in left_behind(topo)["xdp"]


def test_the_socket_filter_on_a_packet_socket_gets_what_the_table_says(pair6: Topology) -> None:
    """The classic filter on a real AF_PACKET socket (the kernel runs it, on frames that
    crossed the veth), for the same tables."""
    frames = sockfilter_frames()
    topo = pair6
    for arp_icmp, column in ((True, 2), (False, 3)):
        argv = [sys.executable, str(RAW_FRAMES), "recv", topo.server_if, "80",
                str(int(arp_icmp)), *served_addresses(topo)]  # fmt: skip
        recv = subprocess.Popen(
            ns_exec(topo.server_ns, argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True,
        )  # fmt: skip
        with stopped(recv, signal.SIGKILL):
            assert recv.stdout is not None
            assert recv.stdout.readline().strip() == "ready", recv.stderr
            sent = subprocess.run(
                ns_exec(topo.client_ns, [sys.executable, str(RAW_FRAMES), "send",
                                         topo.client_if]),
                input="\n".join(f[1].hex() for f in frames), capture_output=True,
                text=True, timeout=60, env=_env(), check=False,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
            time.sleep(0.5)  # the last frames across
            out, err = recv.communicate("done\n", timeout=30)
        assert recv.returncode == 0, err
        got = set(json.loads(out))
        # A tagged frame arrives untagged where it arrives at all (the kernel takes
        # the tag off before the filter runs).
        came = [f[1].hex() in got or untagged(f[1]).hex() in got for f in frames]
        wrong = [(f[0], c, f[column]) for f, c in zip(frames, came, strict=True)
                 if c != f[column]]  # fmt: skip
        assert not wrong, (arp_icmp, wrong)


def untagged(frame: bytes) -> bytes:
    return frame[:12] + frame[16:] if frame[12:14] == b"\x81\x00" else frame


def connect_result(topo: Topology, ip: str, port: int, timeout: float = 3) -> str:
    """How a TCP connect from the client namespace to ip:port ends: "connected",
    "timeout" (nothing answered), or the errno's name ("ECONNREFUSED": a RST,
    "EHOSTUNREACH": an ICMPv6 unreachable, or neighbour discovery failed)."""
    code = (
        "import errno, socket\n"
        f"s = socket.socket(socket.AF_INET6 if ':' in {ip!r} else socket.AF_INET)\n"
        f"s.settimeout({timeout})\n"
        "try:\n"
        f"    s.connect(({ip!r}, {port}))\n"
        "    print('connected')\n"
        "except TimeoutError:\n"
        "    print('timeout')\n"
        "except OSError as e:\n"
        "    print(errno.errorcode.get(e.errno, str(e.errno)))\n"
    )
    return run_in(topo.client_ns, [sys.executable, "-c", code], timeout=timeout + 30).stdout.strip()


def neighbour(topo: Topology, ip: str) -> None:
    """A permanent neighbour entry on the client for ``ip`` at the server's MAC: where
    nothing answers neighbour discovery for ``ip`` (ssdk's stack is not running), its
    segments can still be sent."""
    subprocess.run(["ip", "-n", topo.client_ns, "-6", "neigh", "replace", ip, "lladdr",
                    topo.server_mac, "dev", topo.client_if, "nud", "permanent"],
                   check=True, timeout=30)  # fmt: skip


@pytest.mark.parametrize("held", [False, True], ids=["kernel-holds-another", "kernel-holds-it"])
@pytest.mark.parametrize("mode", XDP_MODES)
def test_kernel_ipv6_traffic_keeps_working_beside_the_xdp_program(
    net_ready: None, tmp_path: Path, mode: str, held: bool
) -> None:
    """The program holds ssdk's IPv4 and IPv6 addresses and port 80, with a socket on the
    veth's one queue; the kernel holds KERNEL_IP6 (and ssdk's addresses too when
    ``held``) and runs sshd on port 22 of its addresses."""
    require_backend("af_xdp")
    need("clang", "ssh-keyscan")
    with contextlib.ExitStack() as stack:
        topo = stack.enter_context(veth_pair("share6", ipv6=True))
        ip6 = str(topo.server_ip6)
        stack.enter_context(kernel_address(topo.server_ns, topo.server_if, f"{KERNEL_IP6}/64"))
        if held:
            stack.enter_context(kernel_owns_server_ip(topo, ipv6=True))
        else:
            neighbour(topo, ip6)
        stack.enter_context(sshd(topo, tmp_path, (KERNEL_IP6, *([ip6] if held else []))))
        argv = [sys.executable, str(VERDICTS), "--hold", topo.server_if, "80",
                str(int(not held)), mode, topo.server_ip, ip6]  # fmt: skip
        hold = subprocess.Popen(
            ns_exec(topo.server_ns, argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=_env(), start_new_session=True,
        )  # fmt: skip
        stack.enter_context(stopped(hold, signal.SIGKILL))
        assert hold.stdout is not None
        assert hold.stdout.readline().strip() == f"ready {mode}", hold.stderr
        # The kernel's IPv6 on the interface: neighbour discovery for its address (the
        # client knows no MAC for it yet), SSH, and ping.
        for ip in (KERNEL_IP6, *([ip6] if held else [])):
            assert banner_of(topo, ip, 22).startswith("SSH-2.0"), ip
            keys = run_in(topo.client_ns, ["ssh-keyscan", "-T", "5", "-t", "ed25519", ip])
            assert "ssh-ed25519" in keys.stdout, (ip, keys.stderr)
            assert all(rtt is not None for rtt in ping(topo, ip)), f"the kernel's ping of {ip}"
        # ssdk's port goes to ssdk's socket alone: the kernel does not reset it (where it
        # holds the address) and nothing answers it (no stack reads the socket here).
        assert connect_result(topo, ip6, 80) == "timeout"
        if not held:
            assert ping(topo, ip6, 1) == [None]  # to ssdk's socket; the kernel is silent
        out, err = hold.communicate("done\n", timeout=30)
        assert hold.returncode == 0, err
        stats = json.loads(out.splitlines()[-1])
        # At least the SYN and one resend of it came to the socket (plus the echo).
        assert stats["rx_frames"] >= (2 if held else 3), stats
        # The kernel's SSH still works after the program is gone.
        assert banner_of(topo, KERNEL_IP6, 22).startswith("SSH-2.0")
        assert "prog/xdp" not in left_behind(topo)["xdp"]


GUARD = """\
import ipaddress, sys
from ssdk.share import guarded
with guarded([(ipaddress.ip_address(sys.argv[1]), sys.argv[2] == "1")], [80]) as g:
    print(g.describe() if g else "none", flush=True)
    sys.stdin.readline()
"""


def snmp6(topo: Topology) -> dict[str, int]:
    out = run_in(topo.server_ns, ["cat", "/proc/net/snmp6"]).stdout
    return {k: int(v) for k, v in (ln.split() for ln in out.splitlines() if ln.strip())}


@pytest.mark.parametrize("held", [True, False], ids=["kernel-holds-it", "kernel-does-not"])
def test_the_nftables_rules_keep_the_kernel_off_ssdks_ipv6_address(
    net_ready: None, held: bool
) -> None:
    """No ssdk here: what the kernel does with segments for ssdk's IPv6 address and
    port, without and with ssdk's rules."""
    need("nft")
    with contextlib.ExitStack() as stack:
        topo = stack.enter_context(veth_pair("guard6", ipv6=True))
        ip6 = str(topo.server_ip6)
        stack.enter_context(kernel_address(topo.server_ns, topo.server_if, f"{KERNEL_IP6}/64"))
        if held:
            stack.enter_context(kernel_address(topo.server_ns, topo.server_if, f"{ip6}/64"))
            before = connect_result(topo, ip6, 80)
            assert before == "ECONNREFUSED", before  # the kernel's RST
        else:
            # A kernel that forwards (a router, a container host) sends what comes for an
            # on-link address it does not hold back out, with a redirect, and answers
            # with an unreachable when no one else answers for it.
            forwarding = "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"
            assert run_in(topo.server_ns, ["sh", "-c", forwarding]).returncode == 0
            neighbour(topo, ip6)
            was = snmp6(topo)
            before = connect_result(topo, ip6, 80, timeout=6)
            moved = {k: v - was.get(k, 0) for k, v in snmp6(topo).items()}
            assert before == "EHOSTUNREACH", before
            assert moved["Ip6OutForwDatagrams"] > 0 and moved["Icmp6OutRedirects"] > 0, moved
            # Segments still queued for the kernel's neighbour resolution get their
            # unreachables when it gives up: those are the "before"'s, not the rules'.
            wait_for(lambda: "INCOMPLETE" not in run_in(topo.server_ns, [
                "ip", "-6", "neigh", "show", "to", ip6, "dev", topo.server_if]).stdout,
                "the kernel giving up resolving ssdk's address")  # fmt: skip
        proc = subprocess.Popen(
            ns_exec(topo.server_ns, [sys.executable, "-c", GUARD, ip6, str(int(held))]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_env(), start_new_session=True,
        )  # fmt: skip
        with stopped(proc, signal.SIGKILL):
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "table ip6 ssdk_" in line and "removed at exit" in line, (line, proc.stderr)
            listed = run_in(topo.server_ns, ["nft", "list", "tables"]).stdout
            assert re.search(r"^table ip6 ssdk_\d+$", listed, re.M), listed
            was = snmp6(topo)
            assert connect_result(topo, ip6, 80, timeout=6) == "timeout"
            moved = {k: v - was.get(k, 0) for k, v in snmp6(topo).items()}
            assert moved.get("Ip6OutForwDatagrams", 0) == 0, moved
            assert moved.get("Icmp6OutDestUnreachs", 0) == 0, moved
            assert moved.get("Icmp6OutRedirects", 0) == 0, moved
            if held:
                # The kernel's other ports stay its own: no listener on 22 here, so a RST.
                assert connect_result(topo, ip6, 22) == "ECONNREFUSED"
                assert all(rtt is not None for rtt in ping(topo, ip6)), "the kernel's ping"
            out, err = proc.communicate("done\n", timeout=30)
            assert proc.returncode == 0, err
        assert "ssdk_" not in run_in(topo.server_ns, ["nft", "list", "tables"]).stdout
        # Without the rules again, as before them.
        if held:
            assert connect_result(topo, ip6, 80) == "ECONNREFUSED"
