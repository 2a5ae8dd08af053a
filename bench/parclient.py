# bench/parclient.py: `python3 -m bench.parclient --host IP --path /F --conns N --start-at T`
# opens N connections at once (asyncio, one GET each, Connection: close) at wall-clock
# time T, reads each whole response, and prints one JSON object per connection: when it
# started and finished (time.time()), the body's length and sha256, and any error. One
# process of bench/loss_sweep.py's --bottleneck client; the caller starts several.
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from typing import Any


async def one(host: str, path: str, timeout: float) -> dict[str, Any]:
    out: dict[str, Any] = {"start": time.time(), "end": None, "bytes": 0, "sha256": None}
    try:
        await asyncio.wait_for(get(host, path, out), timeout)
    except (OSError, RuntimeError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
        out["error"] = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        if isinstance(e, asyncio.TimeoutError):
            out["error"] = f"timed out after {timeout} s"
    return out


async def get(host: str, path: str, out: dict[str, Any]) -> None:
    reader, writer = await asyncio.open_connection(host, 80)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        raise RuntimeError(f"status {status.decode(errors='replace')}")
    length = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    h = hashlib.sha256()
    n = 0
    while length is None or n < length:
        chunk = await reader.read(1 << 16)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    out["end"] = time.time()
    out["bytes"] = n
    out["sha256"] = h.hexdigest()
    out["content_length"] = length
    writer.close()


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    delay = args.start_at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    tasks = [one(args.host, args.path, args.timeout) for _ in range(args.conns)]
    return list(await asyncio.gather(*tasks))


def main() -> int:
    ap = argparse.ArgumentParser(description="N parallel downloads of one file")
    ap.add_argument("--host", required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--start-at", type=float, default=0.0, help="time.time() to start at")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per connection")
    args = ap.parse_args()
    for r in asyncio.run(run(args)):
        sys.stdout.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
