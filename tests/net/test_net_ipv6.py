# tests/net/test_net_ipv6.py: `ssdk serve` with IPv4 and IPv6 on one interface (dual
# stack) over AF_PACKET and AF_XDP (the socket filter, and ssdk's XDP program, given
# both families), against the client namespace's kernel: curl -6 byte-exact on every
# file size of the IPv4 suite, ping -6, ndisc6 against ssdk's address, IPv4 and IPv6
# keep-alive connections at once, the solicited-node group's MAC let in on the
# interface, and an IPv6 peer that fragments (the first fragment reaches ssdk, which
# drops and counts it; the later one is the kernel's). The kernel's own IPv6 beside
# ssdk is test_net_share.py's; the differential test runs over IPv6 too.
#
# Packet Too Big is not made here: a veth pair has no router between the ends to send
# one (the client's kernel answers its own MTU with MSS, not with PTB); the stack tests
# (tests/stack/test_ipv6.py) inject it.
from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import (
    BACKENDS,
    FILE_SIZES,
    Server,
    file_sha256,
    require_backend,
    serve,
    sha256,
    unavailable,
)

from ssdk.tools.netns import ns_exec

pytestmark = pytest.mark.net

HERE = Path(__file__).resolve().parent
SOLICITED_MAC = "33:33:ff:00:00:02"  # 2001:2::2's solicited-node group (RFC 2464 7)


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        unavailable(f"missing tools: {', '.join(missing)} (./demo installs them)")


@pytest.fixture(scope="module", params=BACKENDS)
def server6(
    request: pytest.FixtureRequest, bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """ssdk serving the test app at 198.18.0.2 and 2001:2::2 on one veth end."""
    backend: str = request.param
    require_backend(backend)
    tag = "v6x" if backend == "af_xdp" else "v6p"
    with serve(bundle, tmp_path_factory.mktemp("v6"), tag=tag, backend=backend,
               ipv6=True) as s:  # fmt: skip
        yield s


def test_banner_names_both_families(server6: Server) -> None:
    out = server6.output()
    assert "198.18.0.2, 2001:2::2 TCP port 80" in out, out
    assert "IPv6 at [2001:2::2]:80" in out, out
    if "af_xdp" in server6.argv:  # serve's own socket holds the group beside AF_XDP
        assert f"lets in {SOLICITED_MAC} while ssdk serves" in out, out


@pytest.mark.parametrize("name", list(FILE_SIZES))
def test_curl6_byte_exact(
    server6: Server, expected: dict[str, bytes], tmp_path: Path, name: str
) -> None:
    path = f"/files/{name}"
    out = tmp_path / "body"
    proc = server6.curl_to(path, out, "-6", "-w", "%{http_code} %{remote_ip}", family=6)
    assert proc.returncode == 0, f"curl -6 {path}: {proc.stderr}\n{server6.log_tail()}"
    assert proc.stdout == "200 2001:2::2", proc.stdout
    assert file_sha256(out) == sha256(expected[path])


def test_ping6(server6: Server) -> None:
    require_tools("ping")
    before = server6.stats(fresh=True)["icmp6_echo_replies"]
    proc = server6.client(["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "2001:2::2"])
    assert proc.returncode == 0 and "3 received" in proc.stdout, proc.stdout + proc.stderr
    # ssdk answered, not some other host: its counter moved by exactly the three.
    assert server6.stats(fresh=True)["icmp6_echo_replies"] - before == 3


def test_ndisc6_gets_our_mac(server6: Server) -> None:
    require_tools("ndisc6")
    before = server6.stats(fresh=True)["nd_adverts"]
    proc = server6.client(["ndisc6", "-1", "-r", "3", "-w", "1000", "2001:2::2",
                           server6.topo.client_if])  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert server6.topo.server_mac.lower() in proc.stdout.lower(), proc.stdout
    assert server6.stats(fresh=True)["nd_adverts"] > before


def test_solicited_node_mac_is_let_in(server6: Server) -> None:
    """A NIC's multicast filter drops frames to groups nobody joined: while ssdk
    serves, the interface lists its solicited-node group's MAC (the AF_PACKET
    backend's socket, or serve's own socket beside AF_XDP)."""
    proc = subprocess.run(ns_exec(server6.topo.server_ns, ["ip", "maddr", "show", "dev",
                                                           server6.topo.server_if]),
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert f"link  {SOLICITED_MAC}" in proc.stdout, proc.stdout


def test_ipv4_and_ipv6_keep_alive_at_once(
    server6: Server, expected: dict[str, bytes], tmp_path: Path
) -> None:
    """curl -4 and curl -6 to the same server at the same time, each fetching ten
    files over one kept-alive connection: every body byte-exact, one connect each."""
    paths = ["/files/f64k.bin", "/files/f1449.bin", "/", "/files/f1.bin", "/files/f0.bin"] * 2
    procs = {}
    for family in (4, 6):
        argv = ["curl", f"-{family}", "-sS", "--fail", "--max-time", "60"]
        for i, path in enumerate(paths):
            argv += ["-w", "%{num_connects}\\n", "-o", str(tmp_path / f"{family}-{i}"),
                     server6.url(path, family)]  # fmt: skip
        procs[family] = subprocess.Popen(ns_exec(server6.topo.client_ns, argv),
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)  # fmt: skip
    for family, proc in procs.items():
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, f"curl -{family}: {err}\n{server6.log_tail()}"
        assert [int(n) for n in out.split()] == [1] + [0] * (len(paths) - 1), (family, out)
        for i, path in enumerate(paths):
            assert file_sha256(tmp_path / f"{family}-{i}") == sha256(expected[path]), path


@pytest.mark.parametrize("backend", BACKENDS)
def test_ipv6_alone(
    net_ready: None, bundle: Path, expected: dict[str, bytes], tmp_path: Path, backend: str
) -> None:
    """--ip 2001:2::2/64 and nothing else: the XDP program gets no IPv4 address at all
    (its IPv4 maps stay empty), the socket filter an IPv6 block only; IPv6 is served,
    and IPv4 to the address the pair would use is nobody's."""
    require_backend(backend)
    with serve(bundle, tmp_path, tag="v6o", backend=backend, ipv6=True, ipv4=False) as s:
        assert "ready: http://[2001:2::2]:80/" in s.output(), s.output()
        out = tmp_path / "body"
        proc = s.curl_to("/files/f64k.bin", out, "-6", family=6)
        assert proc.returncode == 0, f"curl -6: {proc.stderr}\n{s.log_tail()}"
        assert file_sha256(out) == sha256(expected["/files/f64k.bin"])
        v4 = s.client(["curl", "-4", "-sS", "--max-time", "2", "-o", "/dev/null", s.url("/")])
        assert v4.returncode != 0, "IPv4 was answered though only IPv6 is served"
        assert s.stats(fresh=True)["http_requests"] == 1


def test_first_fragment_reaches_ssdk_and_is_counted(server6: Server) -> None:
    """The first fragment carries the ports and goes to ssdk, which never reassembles:
    dropped and counted (drop_ip6_frag). The last names no port and is the kernel's."""
    topo = server6.topo
    before = server6.stats(fresh=True)["drop_ip6_frag"]
    proc = server6.client([sys.executable, str(HERE / "frag6.py"), topo.client_if,
                           topo.server_mac, "2001:2::1", "2001:2::2", "80"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    server6.wait_stats("drop_ip6_frag", before + 1)
    assert server6.stats(fresh=True)["drop_ip6_frag"] == before + 1
