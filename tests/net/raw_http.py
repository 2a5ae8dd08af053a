# tests/net/raw_http.py: run inside a client namespace (`ip netns exec NS python3
# raw_http.py`) by the differential test. It sends requests exactly as given, byte for
# byte, over a fresh TCP connection each, and says what came back.
#
# Input: one JSON object per line on stdin:
#   {"host": "198.18.0.2", "port": 80, "data": BASE64, "head": false,
#    "timeout": 3.0, "probe": BASE64 or null, "probe_timeout": 1.0,
#    "tls": null or {"cafile": PATH, "server_name": "a.test"}}
# With "tls", the connection is HTTPS (ALPN http/1.1, the certificate checked against
# cafile and server_name); the end of the server's stream is its close_notify or, without
# one, its FIN, both "closed".
# Output: one JSON object per line on stdout, in the same order:
#   {"scheme": "http" or "https", "connected": true, "send_error": null,
#    "interim": [100, ...], "status": 200 or null,
#    "status_line": "...", "headers": [[name, value], ...], "body": BASE64,
#    "body_complete": true, "extra": BASE64, "after": "closed"|"reset"|"open"|"silent"|
#    "timeout"}
#
# The response is framed as RFC 9112 6.3 says: no body after HEAD, 1xx, 204 or 304; a
# chunked body is decoded; otherwise Content-Length bytes, or everything until the
# server closes. "extra" is what came after the framed response and before the probe.
# Whether the connection stayed open is found by sending `probe` (another request)
# after the response: an answer means it stayed ("open"), end of stream or a reset that
# it closed ("closed", "reset"), nothing within probe_timeout "silent". "timeout" means
# the response itself did not come complete in time.
from __future__ import annotations

import base64
import json
import socket
import ssl
import sys
import time
from typing import Any


class Reader:
    """Buffered reads from a socket with one deadline for the whole response."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buf = b""
        self.eof = False
        self.reset = False
        self.timed_out = False

    def fill(self) -> bool:
        """Read once more; False at end of stream, reset or deadline."""
        if self.eof:
            return False
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.timed_out = True
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            self.timed_out = True
            return False
        except (ConnectionResetError, BrokenPipeError):
            self.eof = self.reset = True
            return False
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            self.eof = True  # close_notify, or a FIN without one
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def line(self) -> bytes | None:
        while b"\n" not in self.buf:
            if not self.fill():
                return None
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r")

    def take(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self.fill():
                return None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        while self.fill():
            pass
        out, self.buf = self.buf, b""
        return out


def read_head(r: Reader) -> tuple[str, list[list[str]]] | None:
    """A status line and its fields, or None when the stream ended first."""
    status_line = r.line()
    if status_line is None:
        return None
    fields: list[list[str]] = []
    while True:
        line = r.line()
        if line is None:
            return None
        if line == b"":
            return status_line.decode("latin-1"), fields
        name, _, value = line.decode("latin-1").partition(":")
        fields.append([name, value.strip(" \t")])


def field(fields: list[list[str]], name: str) -> str | None:
    values = [v for n, v in fields if n.lower() == name]
    return ", ".join(values) if values else None


def read_chunked(r: Reader) -> tuple[bytes, bool]:
    body = b""
    while True:
        size_line = r.line()
        if size_line is None:
            return body, False
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            return body, False
        if size == 0:
            while True:  # trailer section
                line = r.line()
                if line is None:
                    return body, False
                if line == b"":
                    return body, True
        chunk = r.take(size)
        if chunk is None or r.take(2) is None:
            return body + (chunk or b""), False
        body += chunk


def status_of(status_line: str) -> int | None:
    parts = status_line.split(" ", 2)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def exchange(job: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "scheme": "https" if job.get("tls") else "http",
        "connected": False, "send_error": None, "interim": [], "status": None,
        "status_line": None, "headers": [], "body": "", "body_complete": False,
        "extra": "", "after": "timeout",
    }  # fmt: skip
    timeout = float(job.get("timeout", 3.0))
    try:
        sock = socket.create_connection((job["host"], job.get("port", 80)), timeout=timeout)
        if job.get("tls"):
            ctx = ssl.create_default_context(cafile=job["tls"]["cafile"])
            ctx.set_alpn_protocols(["http/1.1"])
            sock = ctx.wrap_socket(sock, server_hostname=job["tls"]["server_name"])
    except OSError as e:
        out["send_error"] = f"connect: {e}"
        return out
    out["connected"] = True
    with sock:
        try:
            sock.sendall(base64.b64decode(job["data"]))
        except OSError as e:  # the server may close or reset before it has read it all
            out["send_error"] = f"send: {type(e).__name__}"
        r = Reader(sock, time.monotonic() + timeout)
        while True:
            head = read_head(r)
            if head is None:
                out["after"] = "timeout" if r.timed_out else ("reset" if r.reset else "closed")
                out["extra"] = base64.b64encode(r.buf).decode()
                return out
            status_line, fields = head
            status = status_of(status_line)
            if status is not None and 100 <= status < 200:
                out["interim"].append(status)
                continue
            break
        out.update(status=status, status_line=status_line, headers=fields)
        body, complete = b"", True
        te = (field(fields, "transfer-encoding") or "").lower()
        cl = field(fields, "content-length")
        if job.get("head") or status in (204, 304) or status is None:
            pass
        elif "chunked" in te:
            body, complete = read_chunked(r)
        elif cl is not None and cl.strip().isdigit():
            taken = r.take(int(cl))
            body, complete = (taken, True) if taken is not None else (r.rest(), False)
        else:
            body = r.rest()
        out["body"] = base64.b64encode(body).decode()
        out["body_complete"] = complete
        if not complete:
            out["after"] = "timeout" if r.timed_out else ("reset" if r.reset else "closed")
            return out
        # Whatever is already here beyond the framed response, without waiting for more.
        sock.setblocking(False)
        try:
            while chunk := sock.recv(65536):
                r.buf += chunk
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        except ConnectionResetError:
            r.reset = r.eof = True
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            r.eof = True
        else:
            r.eof = True
        out["extra"] = base64.b64encode(r.buf).decode()
        if r.eof:
            out["after"] = "reset" if r.reset else "closed"
            return out
        out["after"] = probe(sock, job)
    return out


def probe(sock: socket.socket, job: dict[str, Any]) -> str:
    """Does the connection still carry requests? Ask another one and see."""
    data = job.get("probe")
    if not data:
        return "open"
    try:
        sock.setblocking(True)
        sock.sendall(base64.b64decode(data))
    except (BrokenPipeError, ConnectionResetError):
        return "reset"
    r = Reader(sock, time.monotonic() + float(job.get("probe_timeout", 1.0)))
    while len(r.buf) < 5 and r.fill():
        pass
    if r.buf.startswith(b"HTTP/"):
        return "open"
    if r.reset:
        return "reset"
    return "closed" if r.eof else "silent"


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        print(json.dumps(exchange(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
