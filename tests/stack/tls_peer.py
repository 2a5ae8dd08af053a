# tests/stack/tls_peer.py: a TLS client on a stack-test peer: Python's ssl on memory
# BIOs, its bytes carried by a Peer (harness.py) to the engine's TLS port, so that the
# whole path (TCP, the handshake, ssdk's record layer, HTTP) runs on the virtual clock.
from __future__ import annotations

import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness import Peer, Stack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tls"))
from tls_helpers import Client, GnutlsClient, client_context, make_cert  # noqa: E402

TLS_PORT = 443
__all__ = ["TLS_PORT", "GnutlsClient", "TlsPeer", "client_context", "make_cert", "records_of"]


def records_of(data: bytes) -> list[tuple[int, int]]:
    """(content type, length) of each whole record in data; trailing bytes ignored."""
    out, at = [], 0
    while at + 5 <= len(data):
        n = int.from_bytes(data[at + 3 : at + 5], "big")
        out.append((data[at], n))
        at += 5 + n
    return out


@dataclass
class TlsPeer:
    """A Peer on the TLS port and Python's ssl client over it."""

    stack: Stack
    ctx: ssl.SSLContext = field(default_factory=client_context)
    server_name: str | None = "a.test"
    sport: int = 41000
    peer: Peer = field(init=False)
    client: Client = field(init=False)
    fed: int = field(init=False, default=0)  # bytes of the peer's stream given to ssl

    def __post_init__(self) -> None:
        self.peer = Peer(self.stack, sport=self.sport, dport=TLS_PORT)
        self.client = Client(self.ctx, self.server_name)

    def pump(self) -> None:
        """ssl's bytes to the server; the server's, all acknowledged, back to ssl."""
        data = self.client.take()
        if data:
            self.peer.request(data)
        self.peer.drain()
        new = bytes(self.peer.stream[self.fed :])
        if new:
            self.client.give(new)
            self.fed += len(new)

    def handshake(self) -> None:
        self.peer.connect()
        for _ in range(10):
            done = self.client.step()
            self.pump()
            if done and not self.client.take():
                return
        raise AssertionError("the handshake did not finish")

    def send(self, plain: bytes) -> None:
        self.client.obj.write(plain)
        self.pump()

    def read(self) -> bytes:
        self.pump()
        return self.client.read_all()

    def fetch(self, request: bytes, want: int) -> bytes:
        """Send a request, and read until want bytes of plaintext came."""
        self.send(request)
        got = b""
        for _ in range(200):
            got += self.read()
            if len(got) >= want:
                return got
        raise AssertionError(f"got {len(got)} of {want} bytes")
