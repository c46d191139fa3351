"""The home's Ed25519 signing key: signs audit checkpoints (and, later, dataset receipts)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from .errors import HomeError
from .home import Home
from .jsonio import atomic_write

KEY_FILE = "signing.key"


def key_id(verify_key: VerifyKey) -> str:
    return hashlib.sha256(bytes(verify_key)).hexdigest()[:16]


@dataclass(frozen=True)
class Verifier:
    """A public key and its short id; checks signatures without any secret."""

    verify_key: VerifyKey

    @property
    def key_id(self) -> str:
        return key_id(self.verify_key)

    def verify(self, message: bytes, signature_hex: str) -> bool:
        try:
            self.verify_key.verify(message, bytes.fromhex(signature_hex))
        except (BadSignatureError, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    signing_key: SigningKey

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.signing_key.verify_key)

    @property
    def key_id(self) -> str:
        return self.verifier.key_id

    def sign(self, message: bytes) -> str:
        return self.signing_key.sign(message).signature.hex()


def create_signer(home: Home) -> Signer:
    """Make the key pair: secret in state/keys/ (0600 in a 0700 folder), public key in etc/."""
    keys = home.keys_dir
    keys.mkdir(parents=True, exist_ok=True)
    os.chmod(keys, 0o700)
    path = keys / KEY_FILE
    if path.exists():
        raise HomeError(f"{home.relative(path)} exists already", fix="keep it; mh never replaces a key")
    signing_key = SigningKey.generate()
    atomic_write(path, bytes(signing_key).hex() + "\n", mode=0o600)
    atomic_write(home.public_key_file, bytes(signing_key.verify_key).hex() + "\n")
    return Signer(signing_key)


def load_signer(home: Home) -> Signer:
    path = home.keys_dir / KEY_FILE
    try:
        seed = bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        raise HomeError(
            f"no signing key at {home.relative(path)}", fix="run `mh init` to create the home"
        ) from None
    except ValueError:
        raise HomeError(f"{home.relative(path)} is not a hex key", fix="restore it from a backup") from None
    if len(seed) != 32:
        raise HomeError(f"{home.relative(path)} is not a 32-byte key", fix="restore it from a backup")
    return Signer(SigningKey(seed))


def load_verifier(home: Home) -> Verifier:
    """The published public key; falls back to the secret key's own when etc/ has none."""
    path: Path = home.public_key_file
    try:
        return Verifier(VerifyKey(bytes.fromhex(path.read_text().strip())))
    except FileNotFoundError:
        return load_signer(home).verifier
    except ValueError:
        raise HomeError(f"{home.relative(path)} is not a hex public key", fix="restore it") from None
