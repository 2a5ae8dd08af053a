"""`--send-timeout` and `--body-timeout` (seconds, as nginx's send_timeout and
client_body_timeout): serve and dev hand them to the engine's config in milliseconds;
0 turns one off. Nothing is opened (the run itself is replaced)."""

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


def test_serve_defaults_are_nginx_s(monkeypatch: pytest.MonkeyPatch) -> None:
    tcp = serve_tcp(monkeypatch, [])
    assert (tcp["send_timeout_ms"], tcp["body_timeout_ms"]) == (60_000, 60_000)


def test_serve_takes_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    tcp = serve_tcp(monkeypatch, ["--send-timeout", "3", "--body-timeout", "0.5"])
    assert (tcp["send_timeout_ms"], tcp["body_timeout_ms"]) == (3000, 500)
    tcp = serve_tcp(monkeypatch, ["--send-timeout", "0", "--body-timeout", "0.0001"])
    assert (tcp["send_timeout_ms"], tcp["body_timeout_ms"]) == (0, 1)  # off; never rounded to off


def test_dev_passes_them_on(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def fake_run(
        app: Path, port: int | None, gso: str, tcp: dict[str, Any], tls: object = None
    ) -> int:
        seen.append(tcp)
        return 0

    monkeypatch.setattr(ssdk.tools.dev, "run_dev", fake_run)
    assert main(["dev", str(HELLO), "--send-timeout", "2", "--body-timeout", "7"]) == 0
    assert seen == [
        {"synack_retries": 5, "rx_buffers": 0, "send_timeout_ms": 2000, "body_timeout_ms": 7000}
    ]


def test_engine_config_reaches_c() -> None:
    cfg = EngineConfig(ip="198.18.0.2", send_timeout_ms=1234, body_timeout_ms=0).to_c()
    assert (cfg.send_timeout_ms, cfg.body_timeout_ms) == (1234, 0)
    default = EngineConfig(ip="198.18.0.2").to_c()
    assert (default.send_timeout_ms, default.body_timeout_ms) == (60_000, 60_000)
