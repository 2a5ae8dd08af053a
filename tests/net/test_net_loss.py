# tests/net/test_net_loss.py: real Linux clients against the stack behind its own
# impairment layer (the kernel here has no netem): a 20 MiB download through 5% loss in
# each direction plus 1% duplication and 1% reordering, and 200 downloads at once through
# 2% loss, all byte-exact. The seed is fixed, so a failure replays the same decisions.
from __future__ import annotations

import time
from pathlib import Path

import pytest
from nethelpers import build_bundle, file_sha256, random_files, serve, sha256, write_app

pytestmark = pytest.mark.net

SEED = "9293"
FILES = {"f20m.bin": 20 * 1024 * 1024, "f512k.bin": 512 * 1024}


@pytest.fixture(scope="module")
def loss_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    app_dir = tmp_path_factory.mktemp("loss")
    expected = write_app(app_dir, random_files(FILES))
    return build_bundle(app_dir / "app.py", app_dir / "app.ssdk"), expected


def test_20m_through_5pct_loss_dup_and_reorder(
    loss_app: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    bundle, expected = loss_app
    spec = "loss=5%,dup=1%,reorder=1%"
    with serve(bundle, tmp_path, "--impair-both", spec, "--seed", SEED, tag="loss") as srv:
        out = tmp_path / "f20m"
        start = time.monotonic()
        proc = srv.client(["curl", "-sS", "--fail", "--max-time", "240", "-o", str(out),
                           srv.url("/files/f20m.bin")], timeout=300)  # fmt: skip
        took = time.monotonic() - start
        assert proc.returncode == 0, f"curl: {proc.stderr}\n{srv.log_tail()}"
        assert file_sha256(out) == sha256(expected["/files/f20m.bin"])
        st = srv.stats(fresh=True)
        assert st["impair_tx_dropped"] > 0 and st["impair_rx_dropped"] > 0
        assert st["impair_tx_duplicated"] > 0 and st["impair_tx_reordered"] > 0
        assert st["fast_retransmits"] > 0 and st["sack_blocks"] > 0
        print(f"20 MiB through {spec}: {took:.2f} s, {st['retransmits']} retransmits, "
              f"{st['rto_expired']} RTOs, {st['fast_retransmits']} recoveries")  # fmt: skip


def test_200_parallel_downloads_through_2pct_loss(
    loss_app: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    bundle, expected = loss_app
    n = 200
    with serve(bundle, tmp_path, "--impair-both", "loss=2%", "--seed", SEED,
               "--max-conns", "512", tag="par") as srv:  # fmt: skip
        argv = ["curl", "-sS", "--fail", "--parallel", "--parallel-max", str(n),
                "--max-time", "180"]  # fmt: skip
        for i in range(n):
            argv += ["-o", str(tmp_path / f"d{i}"), srv.url("/files/f512k.bin")]
        proc = srv.client(argv, timeout=240)
        assert proc.returncode == 0, f"curl: {proc.stderr}\n{srv.log_tail()}"
        want = sha256(expected["/files/f512k.bin"])
        bad = [i for i in range(n) if file_sha256(tmp_path / f"d{i}") != want]
        assert not bad, f"{len(bad)} of {n} downloads differ: {bad[:10]}"
        st = srv.wait_stats("conns_active", 0, timeout=30)
        assert st["http_2xx"] >= n  # curl may reuse a connection once a download is done
