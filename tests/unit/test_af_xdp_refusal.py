# tests/unit/test_af_xdp_refusal.py: the AF_XDP backend's errors that need no privilege: a
# build without libxdp refuses it by name; a bad mode or interface is reported, never faked.
from __future__ import annotations

import pytest

from ssdk.core.runtime.engine import HAVE_AF_XDP, Engine, EngineConfig, EngineError


def test_bad_mode_is_a_value_error() -> None:
    with Engine(EngineConfig(ip="198.18.0.2")) as e, pytest.raises(ValueError, match="mode"):
        e.attach_af_xdp("lo", mode="zerocopy")


def test_attach_fails_with_a_message() -> None:
    with Engine(EngineConfig(ip="198.18.0.2")) as e, pytest.raises(EngineError) as info:
        e.attach_af_xdp("no-such-if0")
    msg = str(info.value)
    if HAVE_AF_XDP:
        assert "interface no-such-if0" in msg, msg
    else:
        assert "built without AF_XDP" in msg and "libxdp-dev" in msg, msg
    assert e.backend == ""
