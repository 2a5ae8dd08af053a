# tests/net/conftest.py: fixtures for tests against real peers: the privilege and tool
# check, the test app built once per session, and one running server per test module,
# backend and offload state: every test that takes `server` runs on AF_PACKET and on
# AF_XDP, each with the veth offloads left on (the kernel's default) and turned off, and
# on netmap with them off (where /dev/netmap is there); `pair6`, a veth pair of a test's
# own with IPv6 on both ends.
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import (
    FILE_SIZES,
    OFFLOADS,
    SERVER_BACKENDS,
    Server,
    build_bundle,
    random_files,
    require_backend,
    require_net,
    serve,
    write_app,
)

from ssdk.tools.netns import Topology, veth_pair


@pytest.fixture(scope="session")
def net_ready() -> None:
    require_net()


# Session-wide app: built once, served by each module's own server.


@pytest.fixture(scope="session")
def app(net_ready: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    """The hello app plus the size-edge files: (app dir, path -> expected body)."""
    app_dir = tmp_path_factory.mktemp("app")
    return app_dir, write_app(app_dir, random_files(FILE_SIZES))


@pytest.fixture(scope="session")
def expected(app: tuple[Path, dict[str, bytes]]) -> dict[str, bytes]:
    return app[1]


@pytest.fixture(scope="session")
def bundle(app: tuple[Path, dict[str, bytes]]) -> Path:
    app_dir, _ = app
    return build_bundle(app_dir / "app.py", app_dir / "app.ssdk")


@pytest.fixture
def pair6(net_ready: None, request: pytest.FixtureRequest) -> Iterator[Topology]:
    """A veth pair of this test's own with IPv6 on both ends: the client holds
    198.18.0.1/15 and 2001:2::1/64 (usable at once: no duplicate address detection), the
    server end nothing (ssdk's addresses are server_ip and server_ip6, 2001:2::2); no
    router advertisement is taken. Removed after the test, also when it fails."""
    with veth_pair("p6", ipv6=True) as topo:
        yield topo


# (backend, offloads) of the module's server. netmap takes no offloads (netmap(4),
# "SPECIAL NIC FEATURES"): with them on, the client's kernel sends 64 KiB super-frames
# that no netmap buffer holds, so netmap runs with them off only.
CASES = [(b, o) for b in SERVER_BACKENDS for o in OFFLOADS if b != "netmap" or o == "off"]


@pytest.fixture(scope="module", params=CASES, ids=[f"{b}-{o}" for b, o in CASES])
def net_case(request: pytest.FixtureRequest) -> tuple[str, str]:
    case: tuple[str, str] = request.param
    return case


@pytest.fixture(scope="module")
def backend(net_case: tuple[str, str]) -> str:
    """The NIC backend the module's server runs on; skipped (failed under CI) if not built."""
    require_backend(net_case[0])
    return net_case[0]


@pytest.fixture(scope="module")
def offloads(net_case: tuple[str, str]) -> str:
    """Both veth ends' offloads: "on" as the kernel left them, or "off"."""
    return net_case[1]


@pytest.fixture(scope="module")
def server(
    bundle: Path, backend: str, offloads: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    tag = {"af_xdp": "xdp", "netmap": "nm"}.get(backend, "net")
    with serve(bundle, tmp_path_factory.mktemp("srv"), tag=tag, backend=backend,
               offloads=offloads) as s:  # fmt: skip
        yield s
