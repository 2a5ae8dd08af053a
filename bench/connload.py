# bench/connload.py: builds bench/connload/ (a load generator that opens up to millions of
# TCP connections from raw frames, one request each, and holds them open; its design is
# at the top of bench/connload/main.c) with gcc on demand, and reads its JSON lines.
#
#   sudo ip netns exec CLIENT_NS python3 -m bench.connload --iface IF --server IP \
#       --conns N --get /files/a.bin=path/to/a.bin [--hold -1 --reset ...]
# builds the tool if its sources changed and runs it with those arguments; a benchmark
# or a test calls build() and runs the executable itself (tests/net/test_net_connload.py).
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bench.common import BENCH

SRC_DIR = BENCH / "connload"
CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror"]


def sources() -> list[Path]:
    return sorted(SRC_DIR.glob("*.c"))


def default_dir() -> Path:
    # Per user: a root build must not be a file another user could have planted.
    return Path(tempfile.gettempdir()) / f"ssdk-connload-{os.getuid()}"


def build(out_dir: Path | None = None) -> Path:
    """The connload executable in ``out_dir``, compiled again when any source or header
    is newer than it. Raises CalledProcessError (with gcc's messages) on failure."""
    out_dir = out_dir or default_dir()
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = out_dir.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        # Someone else's folder could hold their program under our name.
        raise PermissionError(f"{out_dir} is not this user's alone")
    exe = out_dir / "connload"
    inputs = [*sources(), *SRC_DIR.glob("*.h")]
    if exe.exists() and exe.stat().st_mtime >= max(p.stat().st_mtime for p in inputs):
        return exe
    # Built beside and renamed: two builds at once never run a half-written file.
    tmp = out_dir / f"connload.{os.getpid()}"
    subprocess.run(
        ["gcc", *CFLAGS, *map(str, sources()), "-o", str(tmp)],
        check=True,
        capture_output=True,
        text=True,
    )
    tmp.replace(exe)
    return exe


def events(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects among ``lines`` (the tool writes nothing else on stdout)."""
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            yield json.loads(line)


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """The body checksum connload reports ("crc32c", hex): CRC32C (Castagnoli)."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def main(argv: list[str]) -> int:
    exe = build()
    return subprocess.run([str(exe), *argv], check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


class Load:
    """connload running (argv: the executable under `ip netns exec`, say); its JSON lines
    arrive on a queue, its stderr goes to a file (read when it has said nothing for too
    long)."""

    def __init__(self, argv: list[str], errlog: Path) -> None:
        self.errlog = errlog
        with errlog.open("w") as err:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for ev in events(self.proc.stdout):
            self.lines.put(ev)
        self.lines.put(None)  # it exited

    def until(self, event: str, timeout: float) -> dict[str, Any] | None:
        """The next ``event`` line, or None if connload exited or ``timeout`` s passed."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                ev = self.lines.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if ev is None:
                return None
            self.seen.append(ev)
            if ev["event"] == event:
                return ev
        return None

    def stderr(self) -> str:
        try:
            return self.errlog.read_text().strip()[-2000:]
        except OSError:
            return ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()
