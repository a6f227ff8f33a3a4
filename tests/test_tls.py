"""TLS: the development certificate, configured files, fingerprints and
the listener's context in real handshakes."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import ipaddress
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from lgserver.config import Config, ServerSettings, TLSSettings
from lgserver.tls import (
    CERT_FILE_NAME,
    DEFAULT_ALPN,
    KEY_FILE_NAME,
    CertificateError,
    certificate_names,
    certificate_sha256,
    ensure_dev_certificate,
    fingerprint_base64,
    fingerprint_hex,
    generate_dev_certificate,
    load_certificate_files,
    next_rotation,
    server_certificate,
    server_ssl_context,
)

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def write_pair(folder: Path, cert_pem: bytes, key_pem: bytes) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "server.crt", folder / "server.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    return cert_file, key_file


def client_context(cert_pem: bytes, alpn: list[str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=cert_pem.decode("ascii"))
    context.set_alpn_protocols(alpn)
    return context


def memory_handshake(
    server_context: ssl.SSLContext,
    client: ssl.SSLContext,
    server_hostname: str = "localhost",
) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """Run a handshake through memory buffers; the first SSLError escapes."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_end = client.wrap_bio(to_client, to_server, server_hostname=server_hostname)
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_end = server_context.wrap_bio(server_in, server_out, server_side=True)
    finished = {"client": False, "server": False}
    for _ in range(10):
        for name, end in (("client", client_end), ("server", server_end)):
            if not finished[name]:
                try:
                    end.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                else:
                    finished[name] = True
        server_in.write(to_server.read())
        to_client.write(server_out.read())
        if all(finished.values()):
            return client_end, server_end
    raise AssertionError("the handshake did not finish")


# -- fingerprints


def test_sha256_is_the_digest_of_the_der_encoding() -> None:
    cert_pem, _ = generate_dev_certificate()

    # what openssl x509 -fingerprint -sha256 hashes: the PEM body, decoded
    body = b"".join(cert_pem.strip().splitlines()[1:-1])
    expected = hashlib.sha256(base64.b64decode(body)).digest()
    assert certificate_sha256(cert_pem) == expected

    certificate = x509.load_pem_x509_certificate(cert_pem)
    assert expected == certificate.fingerprint(hashes.SHA256())


def test_sha256_of_a_chain_is_that_of_its_first_certificate() -> None:
    first, _ = generate_dev_certificate()
    second, _ = generate_dev_certificate()
    assert certificate_sha256(first + second) == certificate_sha256(first)
    assert certificate_sha256(first) != certificate_sha256(second)


def test_sha256_of_no_certificate() -> None:
    with pytest.raises(CertificateError, match="no PEM certificate"):
        certificate_sha256(b"not a certificate")


def test_fingerprint_forms() -> None:
    digest = bytes(range(32))
    text = fingerprint_hex(digest)
    assert text.startswith("00:01:02:03:")
    assert text.endswith(":1E:1F")
    assert len(text) == 32 * 3 - 1
    assert fingerprint_hex(digest, "") == digest.hex().upper()
    assert base64.b64decode(fingerprint_base64(digest)) == digest


# -- development certificates


def test_generated_certificate() -> None:
    cert_pem, key_pem = generate_dev_certificate(
        7, ["chat.test", "192.0.2.7", "2001:DB8::1"], now=NOW
    )
    certificate = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)

    # ECDSA P-256, self-signed, and the key is the certificate's
    public = certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert isinstance(public.curve, ec.SECP256R1)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == public
    certificate.verify_directly_issued_by(certificate)
    assert certificate.issuer == certificate.subject

    # valid for exactly the days asked, from a little before now
    start = certificate.not_valid_before_utc
    assert start <= NOW < start + HOUR * 2
    assert certificate.not_valid_after_utc - start == 7 * DAY

    assert certificate_names(certificate) == [
        "localhost",
        "127.0.0.1",
        "::1",
        "chat.test",
        "192.0.2.7",
        "2001:db8::1",
    ]
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage.value
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert not constraints.value.ca


@pytest.mark.parametrize("days", [0, 14, 30])
def test_generated_certificate_stays_pinnable(days: int) -> None:
    with pytest.raises(ValueError, match="days"):
        generate_dev_certificate(days)


def test_certificate_is_made_private_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    made = ensure_dev_certificate(data_dir, now=NOW)

    assert made.generated and made.development
    assert made.cert_file == data_dir / CERT_FILE_NAME
    assert made.key_file == data_dir / KEY_FILE_NAME
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for path in (made.cert_file, made.key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert made.sha256 == certificate_sha256(made.cert_file.read_bytes())
    assert sorted(p.name for p in data_dir.iterdir()) == ["cert.pem", "key.pem"]


def test_certificate_is_reused_while_valid(tmp_path: Path) -> None:
    first = ensure_dev_certificate(tmp_path, days=10, now=NOW)
    later = NOW + 8 * DAY
    second = ensure_dev_certificate(tmp_path, days=10, now=later)
    assert not second.generated
    assert second.sha256 == first.sha256


def test_certificate_is_replaced_near_its_expiry(tmp_path: Path) -> None:
    first = ensure_dev_certificate(tmp_path, days=2, rotate_before=HOUR, now=NOW)
    due = next_rotation(first.certificate, HOUR)
    assert due == first.certificate.not_valid_after_utc - HOUR

    kept = ensure_dev_certificate(
        tmp_path, days=2, rotate_before=HOUR, now=due - dt.timedelta(seconds=1)
    )
    assert not kept.generated

    replaced = ensure_dev_certificate(tmp_path, days=2, rotate_before=HOUR, now=due)
    assert replaced.generated
    assert replaced.sha256 != first.sha256
    assert replaced.certificate.not_valid_after_utc > due + DAY


def test_expired_certificate_is_replaced(tmp_path: Path) -> None:
    first = ensure_dev_certificate(tmp_path, now=NOW)
    replaced = ensure_dev_certificate(tmp_path, now=NOW + 30 * DAY)
    assert replaced.generated and replaced.sha256 != first.sha256


def test_certificate_is_replaced_for_a_new_name(tmp_path: Path) -> None:
    first = ensure_dev_certificate(tmp_path, hostnames=["chat.test"], now=NOW)
    same = ensure_dev_certificate(tmp_path, hostnames=["CHAT.test."], now=NOW)
    assert not same.generated

    wider = ensure_dev_certificate(
        tmp_path, hostnames=["chat.test", "10.1.2.3"], now=NOW
    )
    assert wider.generated and wider.sha256 != first.sha256
    assert "10.1.2.3" in certificate_names(wider.certificate)


def test_mismatched_or_damaged_files_are_replaced(tmp_path: Path) -> None:
    ensure_dev_certificate(tmp_path, now=NOW)
    _, other_key = generate_dev_certificate(now=NOW)
    (tmp_path / KEY_FILE_NAME).write_bytes(other_key)
    assert ensure_dev_certificate(tmp_path, now=NOW).generated

    (tmp_path / CERT_FILE_NAME).write_bytes(b"garbage")
    assert ensure_dev_certificate(tmp_path, now=NOW).generated

    (tmp_path / KEY_FILE_NAME).unlink()
    made = ensure_dev_certificate(tmp_path, now=NOW)
    assert made.generated
    load_certificate_files(made.cert_file, made.key_file, now=NOW)


def test_long_lived_certificate_is_replaced(tmp_path: Path) -> None:
    cert_pem, key_pem = long_lived_pair()
    (tmp_path / CERT_FILE_NAME).write_bytes(cert_pem)
    (tmp_path / KEY_FILE_NAME).write_bytes(key_pem)
    made = ensure_dev_certificate(tmp_path)
    assert made.generated
    lifetime = made.certificate.not_valid_after_utc - (
        made.certificate.not_valid_before_utc
    )
    assert lifetime < 14 * DAY


def test_loosened_permissions_are_tightened_on_reuse(tmp_path: Path) -> None:
    made = ensure_dev_certificate(tmp_path, now=NOW)
    os.chmod(made.key_file, 0o644)
    again = ensure_dev_certificate(tmp_path, now=NOW)
    assert not again.generated
    assert stat.S_IMODE(made.key_file.stat().st_mode) == 0o600


def test_rotation_must_come_before_expiry(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rotate_before"):
        ensure_dev_certificate(tmp_path, days=1, rotate_before=DAY)


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CertificateError, match="cannot write"):
        ensure_dev_certificate(blocker / "data", now=NOW)


# -- configured certificates


def long_lived_pair(
    *, start: dt.datetime = NOW - DAY, days: int = 365
) -> tuple[bytes, bytes]:
    """An RSA certificate like a CA would issue: not one lgserver makes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + days * DAY)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def test_configured_files_are_loaded(tmp_path: Path) -> None:
    cert_file, key_file = write_pair(tmp_path, *long_lived_pair())
    loaded = load_certificate_files(cert_file, key_file, now=NOW)
    assert not loaded.development and not loaded.generated
    assert loaded.sha256 == certificate_sha256(cert_file.read_bytes())


def test_mismatched_key_and_certificate(tmp_path: Path) -> None:
    cert_pem, _ = long_lived_pair()
    _, other_key = generate_dev_certificate(now=NOW)
    cert_file, key_file = write_pair(tmp_path, cert_pem, other_key)
    with pytest.raises(CertificateError) as caught:
        load_certificate_files(cert_file, key_file, now=NOW)
    assert str(caught.value) == (
        f"the key in {key_file} is not the key of the certificate in {cert_file}"
    )
    with pytest.raises(CertificateError, match="cannot use"):
        server_ssl_context(cert_file, key_file)


def test_missing_files_are_named(tmp_path: Path) -> None:
    cert_file, key_file = write_pair(tmp_path, *long_lived_pair())
    missing = tmp_path / "missing.pem"
    with pytest.raises(CertificateError, match=r"^tls.cert_file .*missing.pem: cannot"):
        load_certificate_files(missing, key_file)
    with pytest.raises(CertificateError, match=r"^tls.key_file .*missing.pem: cannot"):
        load_certificate_files(cert_file, missing)


def test_files_that_hold_no_pem(tmp_path: Path) -> None:
    cert_pem, key_pem = long_lived_pair()
    cert_file, key_file = write_pair(tmp_path, cert_pem, key_pem)
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    with pytest.raises(CertificateError, match=r"tls.cert_file .*no PEM certificate"):
        load_certificate_files(junk, key_file)
    with pytest.raises(CertificateError, match=r"tls.key_file .*no PEM private key"):
        load_certificate_files(cert_file, junk)


def test_encrypted_key_is_refused(tmp_path: Path) -> None:
    cert_pem, key_pem = long_lived_pair()
    key = serialization.load_pem_private_key(key_pem, password=None)
    locked = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    cert_file, key_file = write_pair(tmp_path, cert_pem, locked)
    with pytest.raises(CertificateError, match="encrypted"):
        load_certificate_files(cert_file, key_file)


def test_expired_certificate_is_refused(tmp_path: Path) -> None:
    pair = long_lived_pair(start=NOW - 30 * DAY, days=10)
    cert_file, key_file = write_pair(tmp_path, *pair)
    with pytest.raises(CertificateError, match="expired at 2026-02-09"):
        load_certificate_files(cert_file, key_file, now=NOW)


def test_server_certificate_follows_the_configuration(tmp_path: Path) -> None:
    development = Config(server=ServerSettings(data_dir=tmp_path / "data"))
    made = server_certificate(development, now=NOW)
    assert made.development and made.cert_file.parent == tmp_path / "data"
    assert made.certificate.not_valid_after_utc - NOW < 10 * DAY

    cert_file, key_file = write_pair(tmp_path / "prod", *long_lived_pair())
    production = Config(tls=TLSSettings(cert_file=cert_file, key_file=key_file))
    loaded = server_certificate(production, now=NOW)
    assert not loaded.development and loaded.cert_file == cert_file


# -- the listener's context


@pytest.fixture
def dev_pair(tmp_path: Path) -> tuple[Path, Path, bytes]:
    made = ensure_dev_certificate(tmp_path)
    return made.cert_file, made.key_file, made.cert_file.read_bytes()


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(["lg/1"], "lg/1"), (["http/1.1"], "http/1.1"), (["h2", "lg/1"], "lg/1")],
)
async def test_handshake_over_loopback_negotiates_alpn(
    dev_pair: tuple[Path, Path, bytes], offered: list[str], chosen: str
) -> None:
    cert_file, key_file, cert_pem = dev_pair
    context = server_ssl_context(cert_file, key_file)
    seen: list[str | None] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer.get_extra_info("ssl_object").selected_alpn_protocol())
        writer.write(await reader.readexactly(5))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            port,
            ssl=client_context(cert_pem, offered),
            server_hostname="localhost",
        )
        tls = writer.get_extra_info("ssl_object")
        assert tls.selected_alpn_protocol() == chosen
        assert tls.version() == "TLSv1.3"
        writer.write(b"hello")
        assert await reader.readexactly(5) == b"hello"
        writer.close()
        await writer.wait_closed()
    assert seen == [chosen]


def test_certificate_verifies_for_loopback_addresses(
    dev_pair: tuple[Path, Path, bytes],
) -> None:
    cert_file, key_file, cert_pem = dev_pair
    context = server_ssl_context(cert_file, key_file)
    for name in ("localhost", "127.0.0.1", "::1"):
        client = client_context(cert_pem, list(DEFAULT_ALPN))
        client_end, _ = memory_handshake(context, client, name)
        assert client_end.selected_alpn_protocol() == "lg/1", name


def test_tls_1_2_uses_forward_secret_aead(dev_pair: tuple[Path, Path, bytes]) -> None:
    cert_file, key_file, cert_pem = dev_pair
    client = client_context(cert_pem, ["lg/1"])
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client_end, _ = memory_handshake(server_ssl_context(cert_file, key_file), client)
    assert client_end.version() == "TLSv1.2"
    cipher = client_end.cipher()
    assert cipher is not None
    assert cipher[0].startswith("ECDHE-ECDSA-")
    assert "GCM" in cipher[0] or "CHACHA20" in cipher[0]


# The test names TLS 1.1 on purpose; the ssl module warns of it.
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1:DeprecationWarning")
def test_tls_1_1_is_refused(dev_pair: tuple[Path, Path, bytes]) -> None:
    cert_file, key_file, cert_pem = dev_pair

    def old_client() -> ssl.SSLContext:
        client = client_context(cert_pem, ["lg/1"])
        client.minimum_version = ssl.TLSVersion.TLSv1_1
        client.maximum_version = ssl.TLSVersion.TLSv1_1
        client.set_ciphers("DEFAULT:@SECLEVEL=0")
        return client

    # the client can speak TLS 1.1 to a server that allows it
    lenient = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    lenient.minimum_version = ssl.TLSVersion.TLSv1_1
    lenient.set_ciphers("DEFAULT:@SECLEVEL=0")
    lenient.load_cert_chain(cert_file, key_file)
    client_end, _ = memory_handshake(lenient, old_client())
    assert client_end.version() == "TLSv1.1"

    # but not to ours
    with pytest.raises(ssl.SSLError) as caught:
        memory_handshake(server_ssl_context(cert_file, key_file), old_client())
    assert caught.value.reason == "UNSUPPORTED_PROTOCOL"


def test_context_settings(dev_pair: tuple[Path, Path, bytes]) -> None:
    cert_file, key_file, _ = dev_pair
    context = server_ssl_context(cert_file, key_file, alpn=["lg/1"])
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_NO_RENEGOTIATION
    tls12 = [c for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12
    assert all(c["aead"] and c["kea"] == "kx-ecdhe" for c in tls12)
