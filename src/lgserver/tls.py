"""TLS for the listeners: certificates and server contexts.

lgserver presents one of two kinds of certificate:

* In **production**, the certificate and key files the configuration names
  (``tls.cert_file``, ``tls.key_file``). They are checked when loaded: both
  readable, both PEM, the key the certificate's own, the certificate not
  expired. Each failure is a :class:`CertificateError` that names the file.
* In **development** (neither file configured), lgserver makes its own:
  a self-signed ECDSA P-256 certificate for localhost, 127.0.0.1, ::1 and
  any configured names, kept as ``cert.pem`` and ``key.pem`` in the data
  directory, readable by lgserver's user alone. Browsers do not trust it,
  but a page can pin it for WebTransport: ``serverCertificateHashes``
  accepts a certificate by the SHA-256 of its DER encoding
  (:func:`certificate_sha256`), if it is ECDSA P-256 and valid for less
  than 14 days. So the certificate lives a few days
  (``tls.dev_cert_days``), is reused while it has more than
  ``tls.rotate_before_hours`` left, and is replaced after that
  (:func:`next_rotation` says when); pages fetch the hash anew.

:func:`server_ssl_context` builds the context of the TLS listener: TLS 1.2
at least, forward-secret AEAD cipher suites, and ALPN offering ``lg/1``
(raw frames) and ``http/1.1`` (browsers), as ``docs/protocol.md`` and the
design describe.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import logging
import os
import secrets
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .config import Config

__all__ = [
    "CERT_FILE_NAME",
    "DEFAULT_ALPN",
    "DEFAULT_ROTATE_BEFORE",
    "DEV_NAMES",
    "KEY_FILE_NAME",
    "MAX_DEV_CERT_DAYS",
    "CertificateError",
    "ServerCertificate",
    "certificate_names",
    "certificate_sha256",
    "ensure_dev_certificate",
    "fingerprint_base64",
    "fingerprint_hex",
    "generate_dev_certificate",
    "load_certificate_files",
    "next_rotation",
    "server_certificate",
    "server_ssl_context",
]

logger = logging.getLogger("lgserver.tls")

#: The file names of the development certificate in the data directory.
CERT_FILE_NAME = "cert.pem"
KEY_FILE_NAME = "key.pem"
#: WebTransport pins only certificates valid for less than 14 days.
MAX_DEV_CERT_DAYS = 13
DEFAULT_ROTATE_BEFORE = dt.timedelta(hours=24)
#: The protocols the TLS listener offers, in order of preference.
DEFAULT_ALPN = ("lg/1", "http/1.1")
#: The names every development certificate holds.
DEV_NAMES = ("localhost", "127.0.0.1", "::1")

# A development certificate starts an hour in the past, so a client whose
# clock runs a little behind still accepts it.
_BACKDATE = dt.timedelta(hours=1)
_PIN_LIMIT = dt.timedelta(days=14)
# TLS 1.2 suites: ECDHE key exchange and AEAD ciphers only. TLS 1.3 has
# its own list, all of it good, which OpenSSL keeps.
_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"
_SUBJECT = "lgserver development certificate"


class CertificateError(Exception):
    """A certificate or key cannot be used; the text says which and why."""


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """A certificate lgserver presents, and where it is stored.

    Attributes:
        cert_file: The certificate in PEM, chain after it.
        key_file: Its private key in PEM.
        certificate: The server's own certificate (the first in the file).
        development: Whether lgserver made it.
        generated: Whether the call that returned it made it anew.
    """

    cert_file: Path
    key_file: Path
    certificate: x509.Certificate
    development: bool
    generated: bool = False

    @property
    def sha256(self) -> bytes:
        """The SHA-256 of the certificate's DER encoding: what pages pin."""
        return self.certificate.fingerprint(hashes.SHA256())


def certificate_sha256(cert_pem: bytes) -> bytes:
    """The SHA-256 of a certificate's DER encoding, as pages pin it.

    This is the digest ``openssl x509 -fingerprint -sha256`` prints and
    WebTransport's ``serverCertificateHashes`` takes.

    Args:
        cert_pem: A PEM certificate; of a chain, the first one counts.

    Raises:
        CertificateError: ``cert_pem`` holds no certificate.
    """
    certificate = _parse_certificates(cert_pem, "the certificate")[0]
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).digest()


def fingerprint_hex(digest: bytes, separator: str = ":") -> str:
    """A digest in upper-case hex, bytes apart as OpenSSL prints them.

    Args:
        digest: The digest, such as :func:`certificate_sha256` gives.
        separator: What goes between bytes; ``""`` for none.
    """
    return digest.hex(separator).upper() if separator else digest.hex().upper()


def fingerprint_base64(digest: bytes) -> str:
    """A digest in standard base64, the form pages decode most easily.

    Args:
        digest: The digest, such as :func:`certificate_sha256` gives.
    """
    return base64.b64encode(digest).decode("ascii")


def next_rotation(
    certificate: x509.Certificate,
    rotate_before: dt.timedelta = DEFAULT_ROTATE_BEFORE,
) -> dt.datetime:
    """When a development certificate is due to be replaced (UTC).

    Args:
        certificate: The certificate.
        rotate_before: How long before its expiry it is replaced.
    """
    return certificate.not_valid_after_utc - rotate_before


# -- development certificates


def generate_dev_certificate(
    days: int = 10,
    hostnames: Iterable[str] = (),
    *,
    now: dt.datetime | None = None,
) -> tuple[bytes, bytes]:
    """Make a self-signed development certificate and its key.

    The certificate is ECDSA P-256, valid for ``days`` from an hour ago,
    for localhost, 127.0.0.1, ::1 and ``hostnames``.

    Args:
        days: Its validity, 1 to 13 days so WebTransport may pin it.
        hostnames: Further DNS names or IP addresses it holds.
        now: The current time (UTC); the clock's by default.

    Returns:
        The certificate and the unencrypted PKCS #8 key, both PEM.

    Raises:
        ValueError: ``days`` is out of range.
    """
    if not 1 <= days <= MAX_DEV_CERT_DAYS:
        raise ValueError(f"days must be 1 to {MAX_DEV_CERT_DAYS}, got {days}")
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lgserver"),
            x509.NameAttribute(NameOID.COMMON_NAME, _SUBJECT),
        ]
    )
    start = now - _BACKDATE
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(int.from_bytes(secrets.token_bytes(16)) >> 1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(_alternative_names(_dev_names(hostnames)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
    )
    certificate = builder.sign(key, hashes.SHA256())
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


def ensure_dev_certificate(
    data_dir: Path,
    *,
    days: int = 10,
    rotate_before: dt.timedelta = DEFAULT_ROTATE_BEFORE,
    hostnames: Iterable[str] = (),
    now: dt.datetime | None = None,
) -> ServerCertificate:
    """The development certificate in ``data_dir``, made or renewed if needed.

    The stored certificate is reused while it is a pinnable ECDSA P-256
    certificate, matches its key, holds every name asked for, and has
    more than ``rotate_before`` left. Otherwise a new one replaces it;
    both files are written with mode 0600, each replaced in one step.

    Args:
        data_dir: The directory; it is made (mode 0700) if missing.
        days: The validity of a new certificate, 1 to 13 days.
        rotate_before: How long before its expiry a certificate is replaced.
        hostnames: Names it must hold besides localhost and loopback.
        now: The current time (UTC); the clock's by default.

    Raises:
        CertificateError: The directory or files cannot be written.
        ValueError: ``days`` is out of range, or ``rotate_before`` is not
            shorter than ``days``.
    """
    if rotate_before >= dt.timedelta(days=days):
        raise ValueError("rotate_before must be shorter than the validity")
    now = now or dt.datetime.now(dt.UTC)
    hostnames = tuple(hostnames)
    cert_file = data_dir / CERT_FILE_NAME
    key_file = data_dir / KEY_FILE_NAME

    # reuse what is there while it serves
    reason = _reuse_problem(cert_file, key_file, hostnames, rotate_before, now)
    if reason is None:
        certificate = _parse_certificates(cert_file.read_bytes(), str(cert_file))[0]
        _tighten(key_file)
        _tighten(cert_file)
        logger.debug(
            "reusing the development certificate %s, valid until %s",
            cert_file,
            certificate.not_valid_after_utc.isoformat(),
        )
        return ServerCertificate(cert_file, key_file, certificate, True)

    # make a new one; the key goes first so a crash between the two
    # writes leaves a pair that does not match, and is made again
    cert_pem, key_pem = generate_dev_certificate(days, hostnames, now=now)
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(key_file, key_pem)
        _write_private(cert_file, cert_pem)
    except OSError as exc:
        raise CertificateError(
            f"cannot write the development certificate in {data_dir}: "
            f"{exc.strerror or exc}"
        ) from exc
    certificate = x509.load_pem_x509_certificate(cert_pem)
    logger.info(
        "made a development certificate (%s), valid until %s, sha256 %s",
        reason,
        certificate.not_valid_after_utc.isoformat(),
        fingerprint_hex(certificate.fingerprint(hashes.SHA256()), ""),
    )
    return ServerCertificate(cert_file, key_file, certificate, True, generated=True)


def _dev_names(hostnames: Iterable[str]) -> list[str]:
    """The names of a development certificate, each in its canonical form."""
    names: list[str] = []
    for given in (*DEV_NAMES, *hostnames):
        try:
            name = str(ipaddress.ip_address(given))
        except ValueError:
            name = given.lower().rstrip(".")
        if name not in names:
            names.append(name)
    return names


def _alternative_names(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def certificate_names(certificate: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses a certificate holds, in its order.

    Args:
        certificate: The certificate; one with no subject alternative names
            holds none.
    """
    try:
        extension = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
    except x509.ExtensionNotFound:
        return []
    names: list[str] = []
    for entry in extension.value:
        if isinstance(entry, x509.DNSName | x509.IPAddress):
            names.append(str(entry.value))
    return names


def _reuse_problem(
    cert_file: Path,
    key_file: Path,
    hostnames: Sequence[str],
    rotate_before: dt.timedelta,
    now: dt.datetime,
) -> str | None:
    """Why the stored certificate cannot be reused, or None if it can."""
    try:
        cert_pem = cert_file.read_bytes()
        key_pem = key_file.read_bytes()
    except FileNotFoundError:
        return "none was stored"
    except OSError as exc:
        return f"the stored one cannot be read: {exc.strerror}"
    try:
        certificate = _parse_certificates(cert_pem, str(cert_file))[0]
        key = _parse_key(key_pem, str(key_file))
        _check_pair(certificate, key, cert_file, key_file)
    except CertificateError as exc:
        return f"the stored one is unusable: {exc}"

    public = certificate.public_key()
    if not (
        isinstance(public, ec.EllipticCurvePublicKey)
        and isinstance(public.curve, ec.SECP256R1)
    ):
        return "the stored one is not ECDSA P-256"
    start = certificate.not_valid_before_utc
    end = certificate.not_valid_after_utc
    if end - start >= _PIN_LIMIT:
        return "the stored one is valid too long for WebTransport to pin"
    if now < start:
        return "the stored one is not valid yet"
    if end - now <= rotate_before:
        return f"the stored one expires at {end.isoformat()}"
    held = {name.lower() for name in certificate_names(certificate)}
    missing = set(_dev_names(hostnames)) - held
    if missing:
        return "the stored one lacks " + ", ".join(sorted(missing))
    return None


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner alone, replacing it in one step."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _tighten(path: Path) -> None:
    """Make a stored file private again if someone loosened its mode."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except OSError as exc:
        logger.warning("cannot make %s private: %s", path, exc.strerror)


# -- production certificates


def load_certificate_files(
    cert_file: Path, key_file: Path, *, now: dt.datetime | None = None
) -> ServerCertificate:
    """Load and check a configured certificate and key.

    Args:
        cert_file: The certificate in PEM, followed by its chain if any.
        key_file: The unencrypted private key in PEM.
        now: The current time (UTC); the clock's by default.

    Raises:
        CertificateError: A file cannot be read or holds no certificate or
            key, the key is not the certificate's, or the certificate has
            expired. The text names the file.
    """
    cert_pem = _read(cert_file, "tls.cert_file")
    key_pem = _read(key_file, "tls.key_file")
    certificate = _parse_certificates(cert_pem, f"tls.cert_file {cert_file}")[0]
    key = _parse_key(key_pem, f"tls.key_file {key_file}")
    _check_pair(certificate, key, cert_file, key_file)
    now = now or dt.datetime.now(dt.UTC)
    if certificate.not_valid_after_utc <= now:
        expiry = certificate.not_valid_after_utc.isoformat()
        raise CertificateError(f"tls.cert_file {cert_file}: expired at {expiry}")
    return ServerCertificate(cert_file, key_file, certificate, development=False)


def server_certificate(
    config: Config, *, now: dt.datetime | None = None
) -> ServerCertificate:
    """The certificate a configuration calls for: its files, or one made.

    Args:
        config: The configuration; ``[tls]`` and ``server.data_dir`` count.
        now: The current time (UTC); the clock's by default.

    Raises:
        CertificateError: As :func:`load_certificate_files` and
            :func:`ensure_dev_certificate` raise it.
    """
    tls = config.tls
    if tls.cert_file is not None and tls.key_file is not None:
        return load_certificate_files(tls.cert_file, tls.key_file, now=now)
    return ensure_dev_certificate(
        config.server.data_dir,
        days=tls.dev_cert_days,
        rotate_before=tls.rotate_before,
        hostnames=tls.hostnames,
        now=now,
    )


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CertificateError(f"{key} {path}: cannot read: {exc.strerror}") from exc


def _parse_certificates(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise CertificateError(f"{what}: no PEM certificate in it") from None
    return certificates


def _parse_key(pem: bytes, what: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise CertificateError(
            f"{what}: the key is encrypted; lgserver needs it unencrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateError(f"{what}: no PEM private key in it") from None


def _check_pair(
    certificate: x509.Certificate,
    key: PrivateKeyTypes,
    cert_file: Path,
    key_file: Path,
) -> None:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    theirs = certificate.public_key().public_bytes(der, spki)
    ours = key.public_key().public_bytes(der, spki)
    if theirs != ours:
        raise CertificateError(
            f"the key in {key_file} is not the key of the certificate in {cert_file}"
        )


# -- contexts


def server_ssl_context(
    cert_file: Path, key_file: Path, alpn: Sequence[str] = DEFAULT_ALPN
) -> ssl.SSLContext:
    """The TLS context of a listener.

    TLS 1.2 is the oldest version accepted (1.3 is preferred when the
    client has it); TLS 1.2 connections use ECDHE and AEAD ciphers only;
    compression and renegotiation are off.

    Args:
        cert_file: The certificate in PEM, chain after it.
        key_file: Its unencrypted private key in PEM.
        alpn: The protocols offered, in order of preference.

    Raises:
        CertificateError: The files cannot be loaded or do not match.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= (
        ssl.OP_NO_COMPRESSION
        | ssl.OP_NO_RENEGOTIATION
        | ssl.OP_CIPHER_SERVER_PREFERENCE
    )
    context.set_ciphers(_CIPHERS)
    context.set_alpn_protocols(list(alpn))
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None)
        raise CertificateError(
            f"cannot use {cert_file} with {key_file}: {reason or exc}"
        ) from exc
    return context
