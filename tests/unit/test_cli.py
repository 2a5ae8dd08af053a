"""The `ssdk` command: every error path is one line on stderr with the right exit code.

Runs the real entry point (`ssdk.cli.main`) in-process; the commands that need a NIC are
only exercised up to their argument checks here (tests/net serves for real).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ssdk.cli import main
from ssdk.core.bundle import read_bundle

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello" / "app.py"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, err: str, code: int, *needles: str) -> None:
    assert rc == code
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0]


def test_build_writes_a_bundle_and_prints_a_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_path = tmp_path / "hello.ssdk"
    rc, out, _ = run(capsys, "build", str(HELLO), "-o", str(out_path))
    assert rc == 0
    assert "6 paths" in out and "segments" in out
    with read_bundle(out_path) as b:
        assert {r.path for r in b.manifest.routes if r.kind != "special"} == {
            "/", "/files/hello.txt", "/files/style.css", "/items/a", "/items/b", "/items/c",
        }


def test_routes_lists_path_status_type_bytes_segments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, out, _ = run(capsys, "routes", str(HELLO))
    assert rc == 0
    header = out.splitlines()[0].split()
    assert header == ["PATH", "KIND", "STATUS", "TYPE", "BYTES", "SEGS"]
    row = next(line.split() for line in out.splitlines() if line.startswith("/items/a"))
    assert row[2:] == ["200", "application/json", "12", "1"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["serve", "missing.py", "--iface", "lo", "--ip", "198.18.0.2/15"], "does not exist"),
        (["serve", str(HELLO), "--iface", "no-such-if0", "--ip", "198.18.0.2/15"],
         "no network interface"),
        (["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0"], "not an address of ours"),
        (["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/15", "--ip", "ff02::1"],
         "not an address of ours"),
        (["serve", str(HELLO), "--iface", "lo", "--ip", "::ffff:198.18.0.2"],
         "not an address of ours"),
        (["serve", str(HELLO), "--iface", "lo", "--ip", "2001:2::2/129"],
         "not an address of ours"),
        (["serve", str(HELLO), "--iface", "lo", "--ip", "2001:2::2/64", "--ip", "2001:2::2/48"],
         "given twice"),
        (["doctor", "--ip", "2001:2::2/64/1"], "not an address of ours"),
        (["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/15", "--backend", "dpdk"],
         "not one of"),
        (["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/15", "--backend", "af_xdp",
          "--xdp-mode", "zc"], "not one of"),
        (["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/15", "--backend", "af_xdp",
          "--queue", "-1"], "--queue"),
        (["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/15", "--port", "0"],
         "--port"),
        (["serve", str(HELLO), "--ip", "198.18.0.2/15"], "--iface"),
        (["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/15", "--workers", "0"],
         "--workers"),
        (["serve", str(HELLO), "--iface", "lo", "--ip", "198.18.0.2/15", "--backend", "af_xdp",
          "--workers", "2"], "needs queues 0 to 1"),
        (["stats", "not-a-pid"], "neither a pid nor a counter file"),
        (["dev", "/nonexistent/app.py"], "is not a file"),
        (["dev", str(HELLO), "--port", "0"], "--port"),
        (["stats", "--interval", "0"], "--interval"),
        (["build", str(HELLO), "--mss", "10"], "--mss"),
        (["routes", str(HELLO.with_suffix(".txt"))], "does not exist"),
        (["no-such-command"], "No such command"),
        (["demo", "/nonexistent"], "holds no app.py"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    rc, _, err = run(capsys, *argv)
    assert_one_line_error(rc, err, 2, needle)


def test_a_build_error_names_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app = tmp_path / "broken.py"
    app.write_text(
        "import ssdk\napp = ssdk.App()\n\n@app.page('/')\ndef index():\n    raise KeyError('x')\n"
    )
    rc, _, err = run(capsys, "build", str(app), "-o", str(tmp_path / "b.ssdk"))
    assert_one_line_error(rc, err, 1, "build failed", f"{app}:4", "route '/'", "KeyError")


def test_a_corrupt_bundle_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.ssdk"
    bad.write_bytes(b"not a bundle at all" * 10)
    rc, _, err = run(capsys, "routes", str(bad))
    assert_one_line_error(rc, err, 1, "bad bundle")


def test_serve_refuses_a_bundle_path_that_is_a_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc, _, err = run(capsys, "routes", str(tmp_path))
    assert_one_line_error(rc, err, 2, "neither an app")


def test_serve_on_netmap_without_dev_netmap_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ssdk.tools.doctor.probe import LiveProbe

    # The device's absence as this machine has it, whatever machine runs the test.
    monkeypatch.setattr(LiveProbe, "netmap_device", lambda self: "no /dev/netmap: no netmap module")
    app = tmp_path / "app.py"
    app.write_text("import ssdk\napp = ssdk.App()\n")
    rc, _, err = run(capsys, "serve", "--iface", "lo", "--ip", "198.18.0.2/15",
                     "--backend", "netmap", str(app))  # fmt: skip
    assert_one_line_error(rc, err, 2, "--backend", "no /dev/netmap: no netmap module")
