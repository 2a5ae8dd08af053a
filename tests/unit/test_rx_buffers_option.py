"""`--rx-buffers` (serve and dev): the receive buffers' pool (tcp/rxbuf.c) in the
engine's config; 0 leaves the size to the engine (max(1024, max_conns / 16)). Nothing
is opened (the run itself is replaced)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from unit_helpers import HELLO, serve_tcp

import ssdk.serve
import ssdk.tools.dev
import ssdk.tools.doctor
from ssdk.cli import main
from ssdk.core.runtime.engine import EngineConfig


def test_serve_default_leaves_it_to_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    assert serve_tcp(monkeypatch, [])["rx_buffers"] == 0


def test_serve_takes_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    assert serve_tcp(monkeypatch, ["--rx-buffers", "5000"])["rx_buffers"] == 5000


def test_serve_refuses_a_negative_count(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/24", "--rx-buffers", "-1"])
    assert rc == 2
    assert "--rx-buffers" in capsys.readouterr().err


def test_dev_passes_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def fake_run(
        app: Path, port: int | None, gso: str, tcp: dict[str, Any], tls: object = None
    ) -> int:
        seen.append(tcp)
        return 0

    monkeypatch.setattr(ssdk.tools.dev, "run_dev", fake_run)
    assert main(["dev", str(HELLO), "--rx-buffers", "64"]) == 0
    assert seen[0]["rx_buffers"] == 64


def test_engine_config_reaches_c() -> None:
    assert EngineConfig(ip="198.18.0.2", rx_buffers=77).to_c().rx_buffers == 77
    assert EngineConfig(ip="198.18.0.2").to_c().rx_buffers == 0
