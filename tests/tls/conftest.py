# tests/tls/conftest.py: certificates for the TLS layer's tests, made once per session
# with the openssl command: a.test and b.test (self-signed, P-256).
from __future__ import annotations

from pathlib import Path

import pytest
from tls_helpers import Server, make_cert


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("tls-certs")
    return {name: make_cert(folder, name) for name in ("a.test", "b.test")}


@pytest.fixture
def server(certs: dict[str, tuple[Path, Path]]) -> Server:
    return Server([certs["a.test"], certs["b.test"]])
