"""Impairment specs (`--impair-rx loss=5%,delay=10ms`): the parser, its one-line errors
naming the field at fault, and the CLI options that take them (exit code 2 when bad)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssdk.cli import main
from ssdk.core.runtime.impair import Impairment, ImpairmentError, parse_impairment

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello" / "app.py"
SERVE = ["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/15"]


def test_full_spec() -> None:
    imp = parse_impairment("loss=5%,dup=1%,reorder=1%,delay=10ms,jitter=2ms,corrupt=0.1%")
    assert imp == Impairment(loss=0.05, duplicate=0.01, reorder=0.01, corrupt=0.001,
                             delay_ms=10, jitter_ms=2)  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("loss=100%", Impairment(loss=1.0)),
        (" jitter=3ms , loss=0.5% ", Impairment(loss=0.005, jitter_ms=3)),
        ("delay=1.5s", Impairment(delay_ms=1500)),
        ("delay=0ms", Impairment()),
        ("none", Impairment()),
        ("rate=50mbit,queue=125kb", Impairment(rate_bps=50_000_000, queue_bytes=125_000)),
        ("queue=1514b,rate=1.5mbit", Impairment(rate_bps=1_500_000, queue_bytes=1514)),
        ("rate=10gbit,queue=3mb", Impairment(rate_bps=10**10, queue_bytes=3_000_000)),
        (
            "rate=64kbit,queue=2.5kb,delay=10ms",
            Impairment(rate_bps=64_000, queue_bytes=2500, delay_ms=10),
        ),
    ],
)
def test_spec_forms(spec: str, want: Impairment) -> None:
    assert parse_impairment(spec) == want


def test_str_reads_back() -> None:
    imp = Impairment(loss=0.02, duplicate=0.001, reorder=0.5, corrupt=0.25, delay_ms=7,
                     jitter_ms=1)  # fmt: skip
    assert parse_impairment(str(imp)) == imp
    assert str(Impairment()) == "none" and not Impairment()
    link = Impairment(delay_ms=10, rate_bps=50_000_000, queue_bytes=125_000)
    assert str(link) == "delay=10ms,rate=50mbit,queue=125kb"
    odd = Impairment(rate_bps=1_234_567, queue_bytes=1999)
    assert parse_impairment(str(odd)) == odd and bool(odd)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("", "empty"),
        ("loss=5", "loss=5: want a percentage"),
        ("loss=0.05", "loss=0.05: want a percentage"),
        ("dup=101%", "dup=101%: more than 100%"),
        ("reorder=-1%", "reorder=-1%"),
        ("corrupt=x%", "corrupt=x%"),
        ("delay=10", "delay=10: want a time"),
        ("jitter=0.5ms", "jitter=0.5ms: not a whole number"),
        ("delay=2min", "delay=2min"),
        ("delay=61s", "more than 60000 ms"),
        ("lose=5%", "unknown field 'lose'"),
        ("loss=1%,loss=2%", "loss is given twice"),
        ("loss", "'loss' is not FIELD=VALUE"),
        ("loss=1%,", "'' is not FIELD=VALUE"),
        ("rate=50mbit", "rate needs queue too"),
        ("queue=64kb", "queue needs rate too"),
        ("rate=50,queue=64kb", "rate=50: want bits/s with a unit"),
        ("rate=50mbps,queue=64kb", "rate=50mbps: want bits/s"),
        ("rate=-1mbit,queue=64kb", "rate=-1mbit"),
        ("rate=0mbit,queue=64kb", "rate=0mbit: must be between 1000"),
        ("rate=0.0001kbit,queue=64kb", "rate=0.0001kbit: not a whole number of bits/s"),
        ("rate=101gbit,queue=64kb", "rate=101gbit: must be between"),
        ("rate=1mbit,queue=100", "queue=100: want bytes with a unit"),
        ("rate=1mbit,queue=64KB", "queue=64KB: want bytes"),
        ("rate=1mbit,queue=1kb", "queue=1kb: must be between 1514"),
        ("rate=1mbit,queue=3.1mb", "queue=3.1mb: must be between 1514 and 3000000"),
        ("rate=1mbit,queue=0.0005kb", "queue=0.0005kb: not a whole number of bytes"),
        ("rate=1mbit,rate=2mbit,queue=2kb", "rate is given twice"),
    ],
)
def test_bad_specs_name_the_field(spec: str, needle: str) -> None:
    with pytest.raises(ImpairmentError) as info:
        parse_impairment(spec)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_dataclass_checks_ranges() -> None:
    with pytest.raises(ImpairmentError, match="loss"):
        Impairment(loss=1.5)
    with pytest.raises(ImpairmentError, match="loss"):
        Impairment(loss=float("nan"))
    with pytest.raises(ImpairmentError, match="delay_ms"):
        Impairment(delay_ms=-1)
    with pytest.raises(ImpairmentError, match=r"rate must be .*\(a queue needs a rate\)"):
        Impairment(queue_bytes=10_000)
    with pytest.raises(ImpairmentError, match=r"queue must be .*\(a rate needs a queue\)"):
        Impairment(rate_bps=1_000_000)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ([*SERVE, "--impair-rx", "loss=5"], "--impair-rx"),
        ([*SERVE, "--impair-tx", "jitter=2"], "jitter=2: want a time"),
        ([*SERVE, "--impair-both", "foo=1%"], "unknown field 'foo'"),
        ([*SERVE, "--impair-both", "loss=1%", "--impair-tx", "loss=1%"], "not both"),
        ([*SERVE, "--seed", "-1"], "--seed"),
        (["impair", "--a", "lo", "--b", "lo"], "different interfaces"),
        (["impair", "--a", "lo", "--b", "no-such-if0"], "no network interface"),
        (["impair", "--a", "lo", "--b", "lo", "--impair-ab", "dup=200%"], "--impair-ab"),
        ([*SERVE, "--impair-tx", "rate=20mbit"], "rate needs queue too"),
        ([*SERVE, "--impair-rx", "rate=1mbit,queue=9mb"], "queue=9mb: must be between"),
        (["impair", "--a", "lo", "--b", "lo", "--impair-ba", "queue=64kb"], "queue needs rate"),
    ],
)
def test_cli_bad_impairment_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and needle in err[0], err
