# tests/unit/test_serve_open.py: what `ssdk serve app.py` builds in memory before its
# workers start: the pages' Last-Modified is the build time, as `ssdk build` makes it
# ($SOURCE_DATE_EPOCH when set), and the responses the revalidator keeps are the ones
# the table was built from.
from __future__ import annotations

import ipaddress
import time
from pathlib import Path

import pytest

from ssdk.serve import ServeOptions, open_app

HELLO = str(Path(__file__).resolve().parents[2] / "examples" / "hello" / "app.py")


def opts() -> ServeOptions:
    return ServeOptions(target=HELLO, backend="af_packet", iface="lo",
                        ip=ipaddress.IPv4Interface("198.18.0.2/15"))  # fmt: skip


def test_the_build_time_is_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    before = int(time.time())
    bundle, app, concretes = open_app(opts())
    try:
        assert before <= bundle.manifest.built_at <= int(time.time())
        assert app is not None and len(concretes) == 6
    finally:
        bundle.close()


def test_source_date_epoch_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    bundle, _, _ = open_app(opts())
    try:
        assert bundle.manifest.built_at == 1700000000
        assert b"Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT" in bytes(bundle.blob)
    finally:
        bundle.close()
