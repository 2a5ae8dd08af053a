# tests/tls/test_tls_record.py: ssdk's TLS record protection (ssdk/csrc/tls/tls_record.c)
# against an independent AEAD implementation (the cryptography package) and its own
# promises:
# - the structs are the sizes docs/tls.md states;
# - a TLS 1.3 record is RFC 8446 5.2-5.3: nonce = IV XOR the padded sequence number, the
#   inner plaintext ends with the content type, the additional data is the header;
# - TLS 1.2 records are RFC 5288 (AES-GCM: salt || explicit nonce, which is the sequence
#   number) and RFC 7905 (ChaCha20-Poly1305: XOR nonce), additional data seq || type ||
#   version || length;
# - sealing is a pure function of (keys, seq, type, plaintext): the same inputs give the
#   same bytes (a retransmission), another seq other bytes;
# - records sealed with keys that alternate come out right (the per-worker AEAD handle is
#   made again for another key; GnuTLS 3.7.9's set_key would give AES-GCM wrong tags);
# - tls_open refuses a tampered record (bad_record_mac), a too long one (record_overflow),
#   a TLS 1.3 record of another outer type or of zeros only (unexpected_message).
from __future__ import annotations

import struct

import cryptography.hazmat.primitives.ciphers.aead as crypto
import pytest

from ssdk.core.runtime.engine import ffi, lib

ALGS = {
    lib.TLS_AES_128_GCM: (16, crypto.AESGCM),
    lib.TLS_AES_256_GCM: (32, crypto.AESGCM),
    lib.TLS_CHACHA20_POLY1305: (32, crypto.ChaCha20Poly1305),
}
KEY = bytes(range(1, 33))
IV = bytes(range(0xA0, 0xAC))


def keys(cipher: int, minor: int = 4, key: bytes = KEY) -> object:
    k = ffi.new("struct tls_keys *")
    k.cipher, k.minor = cipher, minor
    n = ALGS[cipher][0]
    ffi.memmove(k.key, key[:n], n)
    ffi.memmove(k.iv, IV, 12)
    return k


def seal(k: object, seq: int, ctype: int, plain: bytes) -> bytes:
    out = ffi.new("uint8_t[]", len(plain) + 64)
    n = lib.tls_seal_buf(k, seq, ctype, plain, len(plain), out, len(plain) + 64)
    assert n > 0
    return bytes(ffi.buffer(out, n))


def open_(k: object, seq: int, rec: bytes) -> tuple[int, int, bytes]:
    buf = ffi.new("uint8_t[]", rec)
    t, off, plen = ffi.new("uint8_t *"), ffi.new("size_t *"), ffi.new("size_t *")
    r = lib.tls_open(k, seq, buf, len(rec), t, off, plen)
    return r, t[0], bytes(ffi.buffer(buf + off[0], plen[0])) if r == 0 else b""


def xor_nonce(seq: int) -> bytes:
    return bytes(a ^ b for a, b in zip(IV, bytes(4) + seq.to_bytes(8, "big"), strict=True))


def test_struct_sizes() -> None:
    assert lib.tls_keys_size() == ffi.sizeof("struct tls_keys") == 56
    assert lib.tls_conn_size() == ffi.sizeof("struct tls_conn") == 216
    assert lib.TLS_RX_BUFFER == 5 + 2**14 + 256


@pytest.mark.parametrize("cipher", list(ALGS))
def test_tls13_record_is_rfc8446(cipher: int) -> None:
    k, (klen, aead) = keys(cipher), ALGS[cipher]
    seq, plain = 0x0102030405, b"HTTP/1.1 200 OK\r\n\r\nbody"
    rec = seal(k, seq, 23, plain)
    assert rec[:5] == bytes([23, 3, 3]) + struct.pack(">H", len(plain) + 1 + 16)
    inner = aead(KEY[:klen]).decrypt(xor_nonce(seq), rec[5:], rec[:5])
    assert inner == plain + b"\x17"
    # A handshake message travels as application_data outside, its type inside (5.2).
    rec = seal(k, seq, 22, b"\x18\x00\x00\x01\x00")
    assert rec[0] == 23
    assert aead(KEY[:klen]).decrypt(xor_nonce(seq), rec[5:], rec[:5])[-1] == 22


@pytest.mark.parametrize("cipher", list(ALGS))
def test_tls12_record_is_rfc5288_or_rfc7905(cipher: int) -> None:
    k, (klen, aead) = keys(cipher, minor=3), ALGS[cipher]
    seq, plain = 77, b"hello"
    rec = seal(k, seq, 23, plain)
    ad = seq.to_bytes(8, "big") + bytes([23, 3, 3]) + struct.pack(">H", len(plain))
    if cipher == lib.TLS_CHACHA20_POLY1305:
        assert len(rec) == 5 + len(plain) + 16
        assert aead(KEY[:klen]).decrypt(xor_nonce(seq), rec[5:], ad) == plain
    else:
        assert rec[5:13] == seq.to_bytes(8, "big")  # the explicit nonce is the seq
        nonce = IV[:4] + rec[5:13]
        assert aead(KEY[:klen]).decrypt(nonce, rec[13:], ad) == plain
    assert rec[0] == 23 and len(rec) == 5 + struct.unpack(">H", rec[3:5])[0]


@pytest.mark.parametrize("minor", [3, 4])
@pytest.mark.parametrize("cipher", list(ALGS))
def test_reseal_is_identical(cipher: int, minor: int) -> None:
    k = keys(cipher, minor)
    plain = bytes(range(256)) * 40
    first = seal(k, 9, 23, plain)
    seal(k, 10, 23, b"another record between")
    assert seal(k, 9, 23, plain) == first
    assert seal(k, 10, 23, plain) != first
    assert open_(k, 9, first) == (0, 23, plain)


@pytest.mark.parametrize("cipher", list(ALGS))
def test_alternating_keys(cipher: int) -> None:
    klen, aead = ALGS[cipher]
    other = bytes(range(100, 132))
    for i in range(4):
        key = KEY if i % 2 else other
        rec = seal(keys(cipher, key=key), i, 23, b"x")
        assert aead(key[:klen]).decrypt(xor_nonce(i), rec[5:], rec[:5]) == b"x\x17"


@pytest.mark.parametrize("minor", [3, 4])
@pytest.mark.parametrize("cipher", list(ALGS))
def test_open_refuses(cipher: int, minor: int) -> None:
    k = keys(cipher, minor)
    rec = seal(k, 3, 23, b"payload")
    assert open_(k, 3, rec)[0] == 0
    for i in range(5, len(rec)):
        bad = bytearray(rec)
        bad[i] ^= 0x01
        assert open_(k, 3, bytes(bad))[0] == -lib.TLS_ALERT_BAD_RECORD_MAC, i
    assert open_(k, 4, rec)[0] == -lib.TLS_ALERT_BAD_RECORD_MAC  # another seq
    big = bytes([23, 3, 3]) + struct.pack(">H", 2**14 + 257) + bytes(2**14 + 257)
    assert open_(k, 3, big)[0] == -lib.TLS_ALERT_RECORD_OVERFLOW
    assert open_(k, 3, rec[:5] + b"")[0] == -lib.TLS_ALERT_DECODE_ERROR


def test_open_tls13_types() -> None:
    k = keys(lib.TLS_AES_128_GCM)
    klen, aead = ALGS[lib.TLS_AES_128_GCM]
    # Padding zeros after the type are stripped (RFC 8446 5.4); zeros only have no type.
    body = b"abc\x17" + bytes(10)
    hdr = bytes([23, 3, 3]) + struct.pack(">H", len(body) + 16)
    rec = hdr + aead(KEY[:klen]).encrypt(xor_nonce(1), body, hdr)
    assert open_(k, 1, rec) == (0, 23, b"abc")
    hdr = bytes([23, 3, 3]) + struct.pack(">H", 8 + 16)
    rec = hdr + aead(KEY[:klen]).encrypt(xor_nonce(1), bytes(8), hdr)
    assert open_(k, 1, rec)[0] == -lib.TLS_ALERT_UNEXPECTED_MESSAGE
    # After the handshake a TLS 1.3 record's outer type is application_data only.
    rec = seal(k, 1, 23, b"x")
    assert open_(k, 1, bytes([22]) + rec[1:])[0] == -lib.TLS_ALERT_UNEXPECTED_MESSAGE
    # An inner plaintext over 2^14 bytes overflows even inside a short enough record.
    body = bytes(2**14 + 1) + b"\x17"
    hdr = bytes([23, 3, 3]) + struct.pack(">H", len(body) + 16)
    rec = hdr + aead(KEY[:klen]).encrypt(xor_nonce(1), body, hdr)
    assert open_(k, 1, rec)[0] == -lib.TLS_ALERT_RECORD_OVERFLOW


def test_seal_refuses() -> None:
    k = keys(lib.TLS_AES_128_GCM)
    out = ffi.new("uint8_t[]", 2**15)
    assert lib.tls_seal_buf(k, 0, 23, bytes(2**14 + 1), 2**14 + 1, out, 2**15) == -1
    assert lib.tls_seal_buf(k, 0, 23, b"abc", 3, out, 5 + 3 + 16) == -1  # one byte short
    assert lib.tls_seal_buf(k, 0, 23, b"abc", 3, out, 5 + 3 + 17) == 5 + 3 + 17
    k.cipher = 0
    assert lib.tls_seal_buf(k, 0, 23, b"abc", 3, out, 64) == -1
