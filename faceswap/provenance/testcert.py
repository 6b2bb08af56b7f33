"""A local test CA and a signing certificate the C2PA SDK accepts (it refuses self-signed leaves).

The leaf is what C2PA's certificate profile asks for: X.509 v3, P-256, not a CA, keyUsage
digitalSignature, the emailProtection EKU (accepted without extra trust settings), and key identifiers.
For trying the service and for tests only: real outputs need a certificate from a CA that readers trust.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["SigningCertificate", "make_test_certificate"]

CA_FILE = "test-ca.pem"
CHAIN_FILE = "signer-chain.pem"
KEY_FILE = "signer-key.pem"


@dataclass(frozen=True)
class SigningCertificate:
    """Where the files went: the chain (leaf then CA), the leaf's key, and the CA to trust when checking."""

    chain: Path
    key: Path
    ca: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "faceswap test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, authority: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=authority,
        crl_sign=authority,
        encipher_only=False,
        decipher_only=False,
    )


def make_test_certificate(folder: Path, days: int = 365) -> SigningCertificate:
    """Write a test root CA, a leaf it signed (chain file: leaf then CA) and the leaf's key into `folder`."""
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("faceswap test root CA"))
        .issuer_name(_name("faceswap test root CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=10 * days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(authority=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("faceswap test signer"))
        .issuer_name(ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(authority=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    made = SigningCertificate(chain=folder / CHAIN_FILE, key=folder / KEY_FILE, ca=folder / CA_FILE)
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    made.ca.write_bytes(ca_pem)
    made.chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca_pem)
    made.key.touch(mode=0o600)
    made.key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return made
