"""The TLS layer's listener from Python (ssdk/csrc/tls/, docs/tls.md, "Serving HTTPS").

cli serve / dev -> TlsServer(pairs, ticket_key): tls_server_new(0, 0) (TLS 1.3 and 1.2,
                   the three AEADs), tls_server_add_cert per (certificate, key) pair,
                   tls_server_ticket_key -> Engine.use_tls in every worker -> close()
                   after the engines
ssdk tls-ticket-key -> write_ticket_key;  ssdk dev --tls -> write_selfsigned

One TlsServer is made per `ssdk serve`, in the supervisor before its workers fork: they
inherit it, so every worker resumes the sessions of the others (the same ticket key,
the file's or a random one). The C functions say what is wrong with a file in one line,
which TlsError carries.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ssdk.core.runtime.engine import ffi, lib


class TlsError(RuntimeError):
    """A certificate, key or ticket key file refused, or a file not written: one line."""


def _check(rc: int, err: Any) -> None:
    if rc != 0:
        raise TlsError(ffi.string(err).decode(errors="replace"))


class TlsServer:
    """A listener's certificates (PEM pairs, picked by the client's server name; the
    first pair for a client that names none or a name no certificate has) and its
    session-ticket key (the file's, else a random one)."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]], ticket_key: Path | None = None) -> None:
        if not pairs:
            raise TlsError("no certificate and key given")
        err = ffi.new("char[256]")
        out = ffi.new("struct tls_server **")
        # 0, 0: every cipher (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305), TLS 1.3 and 1.2.
        _check(lib.tls_server_new(0, 0, out, err, len(err)), err)
        self._s: Any = out[0]
        self.pairs = [(Path(c), Path(k)) for c, k in pairs]
        self.ticket_key = ticket_key
        try:
            for cert, key in self.pairs:
                rc = lib.tls_server_add_cert(
                    self._s, str(cert).encode(), str(key).encode(), err, len(err)
                )
                _check(rc, err)
            if ticket_key is not None:
                _check(
                    lib.tls_server_ticket_key(self._s, str(ticket_key).encode(), err, len(err)), err
                )
        except TlsError:
            self.close()
            raise

    @property
    def ptr(self) -> Any:
        """The struct tls_server * for ssdk_engine_tls."""
        if self._s is None:
            raise TlsError("the TLS server is closed")
        return self._s

    def close(self) -> None:
        """Free it (again: nothing); every engine using it must be closed first."""
        if self._s is not None:
            lib.tls_server_free(self._s)
            self._s = None

    def __enter__(self) -> TlsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_ticket_key(path: Path) -> None:
    """TlsError unless ``path`` is a ticket key file the TLS layer takes (before the
    certificate it goes with exists: ssdk dev makes its own later)."""
    err = ffi.new("char[256]")
    out = ffi.new("struct tls_server **")
    _check(lib.tls_server_new(0, 0, out, err, len(err)), err)
    try:
        _check(lib.tls_server_ticket_key(out[0], str(path).encode(), err, len(err)), err)
    finally:
        lib.tls_server_free(out[0])


def write_ticket_key(path: Path) -> None:
    """A fresh session-ticket key (64 random bytes, mode 0600) at ``path``: servers that
    load the same file (--tls-ticket-key) resume each other's sessions. Written to a new
    file beside it and renamed over it, so a file replaced keeps none of its old mode."""
    err = ffi.new("char[256]")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _check(lib.tls_ticket_key_write(str(tmp).encode(), err, len(err)), err)
        os.replace(tmp, path)
    except TlsError as e:
        raise TlsError(str(e).replace(str(tmp), str(path))) from None
    except OSError as e:
        raise TlsError(f"{path}: {e.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_selfsigned(cert: Path, key: Path, names: Sequence[str], days: int) -> None:
    """A self-signed certificate for ``names`` (DNS names and IP addresses) valid for
    ``days``, and its ECDSA P-256 key (mode 0600): tls_selfsigned_write."""
    err = ffi.new("char[256]")
    joined = ",".join(names).encode()
    _check(
        lib.tls_selfsigned_write(
            str(cert).encode(), str(key).encode(), joined, days, err, len(err)
        ),
        err,
    )
