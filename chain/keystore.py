"""Key files: one JSON file per key, mode 0600, optionally encrypted with a password.

A key file holds the secret URI (a BIP-39 phrase with optional `//hard` path, or a `0x` seed). With a
password it is sealed with XSalsa20-Poly1305 under a key stretched by Argon2id (PyNaCl), so a stolen file
alone does not reveal the key. Secrets are never logged; `describe` returns only public facts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils
from bip39 import bip39_generate

from chain.primitives.crypto import DEFAULT_SS58_FORMAT, InvalidKey, Keypair

KEY_FILE_VERSION = 1
MAX_KEY_FILE_BYTES = 16 * 1024


class KeystoreError(ValueError):
    """A key file that cannot be read, decrypted or written."""


@dataclass(frozen=True)
class KeyFile:
    """A key file's content: the secret URI, sealed or not."""

    address: str
    public: bytes
    secret_uri: str | None  # None while still sealed
    sealed: dict | None = None


def generate_phrase(words: int = 12) -> str:
    if words not in (12, 15, 18, 21, 24):
        raise KeystoreError(f"a BIP-39 phrase has 12, 15, 18, 21 or 24 words, not {words}")
    return bip39_generate(words)


def _stretch(password: str, salt: bytes) -> bytes:
    return nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, password.encode("utf-8"), salt,
                                    opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
                                    memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE)


def write_key_file(path: Path, secret_uri: str, password: str | None = None,
                   ss58_format: int = DEFAULT_SS58_FORMAT) -> Keypair:
    """Write a key file with mode 0600 (created exclusively: an existing file is never overwritten)."""
    keypair = Keypair.from_uri(secret_uri)
    content = {"version": KEY_FILE_VERSION, "address": keypair.ss58(ss58_format),
               "publicKey": "0x" + keypair.public.hex(), "scheme": "ed25519"}
    if password:
        salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
        box = nacl.secret.SecretBox(_stretch(password, salt))
        content["encoding"] = {"type": "argon2id-xsalsa20poly1305", "salt": salt.hex(),
                               "ciphertext": box.encrypt(secret_uri.encode("utf-8")).hex()}
    else:
        content["encoding"] = {"type": "none", "secretUri": secret_uri}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeystoreError(f"{path} already exists; refusing to overwrite a key file") from None
    with os.fdopen(fd, "w") as f:
        json.dump(content, f, indent=2)
    return keypair


def read_key_file(path: Path, password: str | None = None) -> Keypair:
    """Load a keypair from a key file, decrypting it with `password` when it is sealed."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise KeystoreError(f"{path} is larger than a key file can be ({MAX_KEY_FILE_BYTES} bytes)")
        content = json.loads(path.read_text("utf-8"))
        encoding = content["encoding"]
        kind = encoding["type"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise KeystoreError(f"{path} is not a readable gradchain key file: {e}") from None
    if kind == "none":
        secret_uri = encoding.get("secretUri")
    elif kind == "argon2id-xsalsa20poly1305":
        if not password:
            raise KeystoreError(f"{path} is encrypted: a password is needed")
        try:
            box = nacl.secret.SecretBox(_stretch(password, bytes.fromhex(encoding["salt"])))
            secret_uri = box.decrypt(bytes.fromhex(encoding["ciphertext"])).decode("utf-8")
        except nacl.exceptions.CryptoError:
            raise KeystoreError(f"wrong password for {path}") from None
        except (KeyError, ValueError, TypeError) as e:
            raise KeystoreError(f"{path} has a malformed encrypted section: {e}") from None
    else:
        raise KeystoreError(f"{path} uses unknown encoding {kind!r}")
    if not isinstance(secret_uri, str):
        raise KeystoreError(f"{path} holds no secret URI")
    try:
        keypair = Keypair.from_uri(secret_uri)
    except InvalidKey as e:
        raise KeystoreError(f"{path} holds an unusable secret: {e}") from None
    if content.get("publicKey") not in (None, "0x" + keypair.public.hex()):
        raise KeystoreError(f"{path}: the stored public key does not match the secret")
    return keypair


def load_key(spec: str, password: str | None = None) -> Keypair:
    """Resolve a `--key` argument: a path to a key file, or a secret URI such as `//Alice`."""
    if os.path.isfile(spec):
        return read_key_file(Path(spec), password)
    try:
        return Keypair.from_uri(spec, password or "")
    except InvalidKey as e:
        raise KeystoreError(f"--key is neither a key file nor a usable secret URI: {e}") from None
