"""`--gso auto|on|off`: which mode each backend and interface gets (ssdk.serve.gso_decide,
with a made-up offload state), and the refusals of `on`, one line and exit code 2,
before anything is opened (no root needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssdk.cli import main
from ssdk.serve import gso_decide, gso_refusal

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello" / "app.py"


def offloads_of(state: dict[str, bool]):  # type: ignore[no-untyped-def]
    asked: list[str] = []

    def probe(iface: str) -> dict[str, bool]:
        asked.append(iface)
        return state

    return probe, asked


@pytest.mark.parametrize(
    ("mode", "backend", "impaired", "state", "want"),
    [
        ("auto", "af_packet", False, {"tso": True, "gso": True}, (True, "on (auto)")),
        ("auto", "af_packet", False, {"tso": False, "gso": True}, (True, "on (auto)")),
        ("auto", "af_packet", False, {"tso": False, "gso": False},
         (False, "off (auto: no TSO/GSO on the interface)")),
        ("auto", "af_packet", False, {}, (False, "off (auto: no TSO/GSO on the interface)")),
        ("auto", "tap", False, {}, (True, "on (auto)")),
        ("auto", "af_xdp", False, {"tso": True}, (False, "off (auto)")),
        ("auto", "af_packet", True, {"tso": True}, (False, "off (auto)")),
        ("on", "af_packet", False, {"tso": False}, (True, "on")),
        ("off", "af_packet", False, {"tso": True}, (False, "off")),
    ],
)  # fmt: skip
def test_gso_decide(
    mode: str, backend: str, impaired: bool, state: dict[str, bool], want: tuple[bool, str]
) -> None:
    probe, asked = offloads_of(state)
    assert gso_decide(mode, backend, "eth9", impaired, probe) == want
    # Only auto on AF_PACKET asks the interface.
    assert asked == (["eth9"] if mode == "auto" and backend == "af_packet" and not impaired else [])


def test_gso_refusal() -> None:
    assert gso_refusal("af_packet", False) is None
    assert gso_refusal("tap", False) is None
    assert "af_xdp cannot send super-frames" in (gso_refusal("af_xdp", False) or "")
    assert "impairment" in (gso_refusal("af_packet", True) or "")


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--backend", "af_xdp", "--gso", "on"], "af_xdp cannot send super-frames"),
        (["--impair-tx", "loss=1%", "--gso", "on"], "impairment"),
        (["--gso", "maybe"], "'maybe' is not one of: auto, on, off"),
    ],
)
def test_serve_refuses_gso_on_where_it_cannot(
    capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    rc = main(["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/24", *extra])
    out, err = capsys.readouterr()
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--gso" in lines[0] and needle in lines[0], err
    assert out == ""
