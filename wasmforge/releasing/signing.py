"""Offline Ed25519 signing: PEM key files and raw 64-byte signatures.

The formats are OpenSSL's own, so anyone can check a release without wasmforge:

    openssl pkeyutl -verify -pubin -inkey release.pub.pem -rawin -in index.json -sigfile index.json.sig
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from wasmforge.core.errors import SignatureError
from wasmforge.model.paths import PUBLIC_KEY_FILE

PRIVATE_KEY_NAME = "release.key.pem"
PUBLIC_KEY_NAME = PUBLIC_KEY_FILE
SIGNATURE_SUFFIX = ".sig"


@dataclass(frozen=True)
class PublicKey:
    key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        # sha256 of the DER public key, so `openssl pkey -pubin -outform DER | sha256sum` matches.
        der = self.key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return "sha256:" + hashlib.sha256(der).hexdigest()

    def verify(self, data: bytes, signature: bytes, what: str) -> None:
        """Raise SignatureError unless `signature` is this key's signature of `data`."""
        try:
            self.key.verify(signature, data)
        except InvalidSignature:
            raise SignatureError(
                f"{what}: signature does not verify with the pinned key {self.key_id} "
                "(tampered file, or signed by another key)"
            ) from None

    def to_pem(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class SigningKey:
    key: Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key())


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    key_id: str


def generate_keypair(out_dir: Path) -> KeyPair:
    """Write a new Ed25519 key pair as PEM; never overwrite an existing key."""
    private_path = out_dir / PRIVATE_KEY_NAME
    public_path = out_dir / PUBLIC_KEY_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise SignatureError(f"{path} already exists; refusing to overwrite a key (choose another --out)")
    out_dir.mkdir(parents=True, exist_ok=True)
    key = SigningKey(Ed25519PrivateKey.generate())
    private_pem = key.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # O_EXCL with mode 0600: the private key is never readable by others, not even briefly.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(key.public.to_pem())
    return KeyPair(private=private_path, public=public_path, key_id=key.public.key_id)


def load_signing_key(path: Path) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise SignatureError(f"{path}: signing key not found (make one with `invoke keygen --out DIR`)") from None
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path}: not an Ed25519 private key")
    return SigningKey(key)


def load_public_key(path: Path) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise SignatureError(f"{path}: public key not found (pass --pubkey with the release's .pub.pem)") from None
    except ValueError as exc:
        raise SignatureError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{path}: not an Ed25519 public key")
    return PublicKey(key)
