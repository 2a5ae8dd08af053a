# tests/tls/test_tls_cert.py: tls_selfsigned_write (ssdk/csrc/tls/tls_cert.c), the
# certificate `ssdk dev --tls` makes:
# - it loads with tls_server_add_cert, and Python's ssl, given it as its only trust anchor
#   (cafile) and checking the host name, completes a handshake against the TLS layer in
#   memory for each of its names, DNS names and IPv4 and IPv6 addresses alike;
# - a name it does not carry fails verification, and so does a second certificate made
#   for the same names (another key: trust is in this certificate, not in its names);
# - its fields, read by the cryptography package: an ECDSA P-256 key, the names in
#   subjectAltName and none else, CA:FALSE, serverAuth, the validity asked for, a positive
#   random serial, issuer = subject;
# - the key file is 0600, also over an old file that was not; bad names, days and folders
#   are refused in one line, leaving no file behind.
from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tls_helpers import Server, TLSError, cert_der, connect

from ssdk.core.runtime.engine import ffi, lib
from ssdk.core.runtime.tls import TlsError, write_selfsigned

NAMES = "localhost, 127.0.0.1,::1,198.18.0.2,www.a.test"


def selfsigned(
    folder: Path, names: str = NAMES, days: int = 30, stem: str = "dev"
) -> tuple[Path, Path]:
    cert, key = folder / f"{stem}.crt", folder / f"{stem}.key"
    err = ffi.new("char[256]")
    rc = lib.tls_selfsigned_write(str(cert).encode(), str(key).encode(), names.encode(), days,
                                  err, 256)  # fmt: skip
    assert rc == 0, ffi.string(err)
    return cert, key


def trusting(cafile: Path) -> ssl.SSLContext:
    """A client as curl --cacert is: only this certificate trusted, host names checked."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(cafile))
    return ctx


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "::1", "198.18.0.2", "www.a.test"])
def test_python_ssl_trusts_it_for_each_name(tmp_path: Path, name: str) -> None:
    cert, key = selfsigned(tmp_path)
    server = Server([(cert, key)])
    client, conn = connect(server, trusting(cert), server_name=name)
    assert client.obj.getpeercert(binary_form=True) == cert_der(cert)
    assert client.obj.version() == "TLSv1.3"
    client.obj.write(b"GET / HTTP/1.1\r\n\r\n")
    assert [e.data for e in conn.feed(client.take())] == [b"GET / HTTP/1.1\r\n\r\n"]
    client.give(conn.seal(b"HTTP/1.1 200 OK\r\n\r\n"))
    assert client.read_all() == b"HTTP/1.1 200 OK\r\n\r\n"


@pytest.mark.parametrize("name", ["other.test", "a.test", "198.18.0.3", "::2"])
def test_a_name_it_does_not_carry_fails_verification(tmp_path: Path, name: str) -> None:
    cert, key = selfsigned(tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError, match="(?i)mismatch|doesn't match"):
        connect(Server([(cert, key)]), trusting(cert), server_name=name)


def test_another_certificate_for_the_same_names_is_not_trusted(tmp_path: Path) -> None:
    cert, key = selfsigned(tmp_path, stem="one")
    other, _ = selfsigned(tmp_path, stem="two")
    assert other.read_bytes() != cert.read_bytes()
    with pytest.raises(ssl.SSLCertVerificationError, match="self.signed|unable to get"):
        connect(Server([(cert, key)]), trusting(other), server_name="localhost")


def test_the_certificate_s_fields(tmp_path: Path) -> None:
    before = datetime.datetime.now(datetime.timezone.utc)
    cert_file, key_file = selfsigned(tmp_path, days=90)
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "www.a.test"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"),
        ipaddress.ip_address("198.18.0.2")]  # fmt: skip
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    days = (cert.not_valid_after_utc - before).total_seconds() / 86400
    assert 89.99 < days <= 90.01
    assert cert.not_valid_before_utc <= before
    assert cert.serial_number > 0
    again = x509.load_pem_x509_certificate(selfsigned(tmp_path, stem="again")[0].read_bytes())
    assert again.serial_number != cert.serial_number
    cert.verify_directly_issued_by(cert)  # signed by its own key
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_an_address_alone_is_the_common_name(tmp_path: Path) -> None:
    cert_file, _ = selfsigned(tmp_path, names="198.18.0.2,localhost")
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    # The first DNS name wins over an address before it.
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    cert_file, _ = selfsigned(tmp_path, names="198.18.0.2", stem="ip")
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "198.18.0.2"


def test_the_key_is_0600_even_over_an_older_file(tmp_path: Path) -> None:
    key = tmp_path / "dev.key"
    key.write_text("old")
    key.chmod(0o644)
    cert, key = selfsigned(tmp_path)
    assert key.stat().st_mode & 0o777 == 0o600
    assert cert.stat().st_mode & 0o777 == 0o644 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.crt", "dev.key"]


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


@pytest.mark.parametrize(
    ("names", "days", "message"),
    [
        ("", 30, "names: no name given"),
        (" , ,", 30, "names: no name given"),
        ("local host", 30, "'local host' is neither a DNS name nor an IP address"),
        ("-a.test", 30, "'-a.test' is neither"),
        ("a..test", 30, "'a..test' is neither"),
        ("a.test,198.18.0.256.1", 30, "'198.18.0.256.1' is neither"),
        ("x" * 254, 30, "longer than 253 bytes"),
        ("localhost", 0, "days: a certificate is valid for 1 to 3650 days"),
        ("localhost", 3651, "days: a certificate is valid for 1 to 3650 days"),
    ],
)
def test_bad_names_and_days_are_refused_in_one_line(
    tmp_path: Path, names: str, days: int, message: str
) -> None:
    with pytest.raises(TlsError, match=message) as e:
        write_selfsigned(tmp_path / "c.crt", tmp_path / "c.key", [names], days)
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_is_not_there_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    with pytest.raises(TlsError, match=f"{missing}/c.key: No such file or directory"):
        write_selfsigned(missing / "c.crt", missing / "c.key", ["localhost"], 1)


def test_the_python_wrapper_joins_names(tmp_path: Path) -> None:
    cert, key = tmp_path / "w.crt", tmp_path / "w.key"
    write_selfsigned(cert, key, ["w.test", "198.18.0.9"], 2)
    connect(Server([(cert, key)]), trusting(cert), server_name="198.18.0.9")
    with pytest.raises(TLSError, match="do not match"):
        Server([(cert, selfsigned(tmp_path, stem="x")[1])])
