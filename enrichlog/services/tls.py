"""A certificate authority of its own for the local broker's secured listeners, made with openssl.

Nothing is fetched: `make_pki` writes a CA, a server certificate for 127.0.0.1 and localhost signed
by it, and a client certificate (for a listener that requires one, mTLS), all as PEM files. The
broker reads the server's key and chain as a PEM keystore (`ssl.keystore.type=PEM`) and the CA as a
PEM truststore; clients name the CA in KAFKA_SSL_CAFILE and, for mTLS, the client's files in
KAFKA_SSL_CERTFILE / KAFKA_SSL_KEYFILE. The keys are unencrypted: these are throwaway test files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from enrichlog.services._proc import run

_DAYS = "30"


@dataclass(frozen=True)
class Pki:
    """The PEM files of a local CA and the certificates it signed."""

    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def server_keystore(self) -> Path:
        """The server's private key (PKCS#8) followed by its certificate and the CA's: Kafka's PEM keystore."""
        return self.directory / "server-keystore.pem"

    @property
    def client_cert_file(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key_file(self) -> Path:
        return self.directory / "client-key.pem"

    def exists(self) -> bool:
        return all(p.exists() for p in (self.ca_file, self.server_keystore, self.client_cert_file,
                                        self.client_key_file))


def _openssl(*args: str, what: str) -> None:
    run(["openssl", *args], what=what, timeout=60)


def _signed(pki: Pki, name: str, subject: str, extensions: str) -> tuple[Path, Path]:
    """A key and a certificate for `subject` signed by the CA: (key file, certificate file)."""
    d = pki.directory
    key, csr, cert, ext = d / f"{name}-key.pem", d / f"{name}.csr", d / f"{name}.pem", d / f"{name}.ext"
    ext.write_text(extensions)
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-subj", subject,
             "-out", str(csr), what=f"making the {name} key")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(pki.ca_file), "-CAkey", str(d / "ca-key.pem"),
             "-CAcreateserial", "-days", _DAYS, "-sha256", "-extfile", str(ext), "-out", str(cert),
             what=f"signing the {name} certificate")
    csr.unlink()
    ext.unlink()
    return key, cert


def make_pki(directory: Path) -> Pki:
    """The CA and the certificates in `directory` (made once; kept when they are there)."""
    pki = Pki(directory)
    if pki.exists():
        return pki
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(directory / "ca-key.pem"),
             "-subj", "/CN=enrichlog local test CA", "-days", _DAYS, "-sha256",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-out", str(pki.ca_file), what="making the local CA")
    server_key, server_cert = _signed(
        pki, "server", "/CN=localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _signed(pki, "client", "/CN=enrichlog-client", "extendedKeyUsage=clientAuth\n")
    pki.server_keystore.write_text(server_key.read_text() + server_cert.read_text() + pki.ca_file.read_text())
    return pki
