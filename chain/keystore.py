"""Key files: one JSON file per key, mode 0600, optionally encrypted with a password; and `--key` resolution.

A key file holds the secret URI (a BIP-39 phrase with optional derivation path, or a `0x` seed) and, in the
clear, its scheme (`ed25519`, or `sr25519`; files without one are Ed25519). With a password the URI is
sealed with XSalsa20-Poly1305 under a key stretched by Argon2id (PyNaCl), so a stolen file alone does not
reveal the key. Secrets are never logged; `describe` returns only public facts. Reading a key file (or a
password file) that group or others may read logs a warning naming the fix (`chmod 600`).

`load_key` is the one place a command's `--key`/`--from` becomes a signer: a key file (of the scheme it
records), or a secret URI, Ed25519 unless prefixed `sr25519:` (`sr25519://Alice` is polkadot-js's default
//Alice; an `ed25519:` prefix is accepted too).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils
from bip39 import bip39_generate

from chain.primitives.crypto import (
    DEFAULT_SS58_FORMAT,
    KEY_SCHEMES,
    InvalidKey,
    Keypair,
    SignatureScheme,
    Sr25519Keypair,
    keypair_from_uri,
)

KEY_FILE_VERSION = 1
MAX_KEY_FILE_BYTES = 16 * 1024
MAX_PASSWORD_FILE_BYTES = 4 * 1024

log = logging.getLogger("gradchain.keystore")


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
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        password.encode("utf-8"),
        salt,
        opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
        memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
    )


SCHEME_PREFIXES = {f"{s.name.lower()}:": s for s in KEY_SCHEMES}  # "ed25519:", "sr25519:"


def split_scheme(spec: str) -> tuple[SignatureScheme | None, str]:
    """`sr25519://Alice` as `(SR25519, "//Alice")`; a spec without a scheme prefix as `(None, spec)`."""
    for prefix, scheme in SCHEME_PREFIXES.items():
        if spec[: len(prefix)].lower() == prefix:
            return scheme, spec[len(prefix) :]
    return None, spec


def _keypair(secret_uri: str, scheme: SignatureScheme, password: str = "") -> Keypair | Sr25519Keypair:
    try:
        return keypair_from_uri(secret_uri, scheme, password)
    except InvalidKey as e:
        raise KeystoreError(f"not a usable {scheme.name.lower()} secret URI: {e}") from None


def write_key_file(
    path: Path,
    secret_uri: str,
    password: str | None = None,
    ss58_format: int = DEFAULT_SS58_FORMAT,
    scheme: SignatureScheme = SignatureScheme.ED25519,
) -> Keypair | Sr25519Keypair:
    """Write a key file with mode 0600 (created exclusively: an existing file is never overwritten)."""
    keypair = _keypair(secret_uri, scheme)
    content = {
        "version": KEY_FILE_VERSION,
        "address": keypair.ss58(ss58_format),
        "publicKey": "0x" + keypair.public.hex(),
        "scheme": scheme.name.lower(),
    }
    if password:
        salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
        box = nacl.secret.SecretBox(_stretch(password, salt))
        content["encoding"] = {
            "type": "argon2id-xsalsa20poly1305",
            "salt": salt.hex(),
            "ciphertext": box.encrypt(secret_uri.encode("utf-8")).hex(),
        }
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


def warn_if_exposed(path: Path, what: str) -> bool:
    """Log a warning when group or others may read `path`; True if they may."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return False
    log.warning(
        "%s %s is readable by group or others (mode %03o): anyone on this machine may copy it; "
        "run: chmod 600 %s",
        what,
        path,
        stat.S_IMODE(mode),
        path,
    )
    return True


def read_password_file(path: Path) -> str:
    """The password in `path`: its text without one trailing newline (as `echo pw > file` writes it)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_PASSWORD_FILE_BYTES:
            raise KeystoreError(
                f"{path} is larger than a password file can be ({MAX_PASSWORD_FILE_BYTES} bytes)"
            )
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise KeystoreError(f"cannot read the password file {path}: {e}") from None
    warn_if_exposed(path, "password file")
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise KeystoreError(f"the password file {path} is empty")
    return text


def read_key_file(path: Path, password: str | None = None) -> Keypair | Sr25519Keypair:
    """Load a keypair of the file's scheme, decrypting it with `password` when it is sealed."""
    path = Path(path)
    warn_if_exposed(path, "key file")
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise KeystoreError(f"{path} is larger than a key file can be ({MAX_KEY_FILE_BYTES} bytes)")
        content = json.loads(path.read_text("utf-8"))
        encoding = content["encoding"]
        kind = encoding["type"]
        scheme = SignatureScheme.named(content.get("scheme", "ed25519"))
    except InvalidKey as e:
        raise KeystoreError(f"{path}: {e}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
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
        keypair = keypair_from_uri(secret_uri, scheme)
    except InvalidKey as e:
        raise KeystoreError(f"{path} holds an unusable {scheme.name.lower()} secret: {e}") from None
    if content.get("publicKey") not in (None, "0x" + keypair.public.hex()):
        raise KeystoreError(f"{path}: the stored public key does not match the secret")
    return keypair


def load_key(
    spec: str,
    password: str | None = None,
    scheme: SignatureScheme | None = None,
    allowed: tuple[SignatureScheme, ...] = KEY_SCHEMES,
) -> Keypair | Sr25519Keypair:
    """Resolve a `--key` argument: a path to a key file, or a secret URI such as `//Alice` or `sr25519://Alice`.

    The scheme comes from the key file, else from an `sr25519:`/`ed25519:` prefix, else from `scheme`, else
    Ed25519; a prefix or `scheme` that contradicts the file, or each other, is refused, as is a key of a
    scheme not in `allowed` (validators pass Ed25519 alone).
    """
    prefixed, rest = split_scheme(spec)
    if prefixed is not None and scheme is not None and prefixed is not scheme:
        raise KeystoreError(f"--key says {prefixed.name.lower()} but --scheme says {scheme.name.lower()}")
    wanted = prefixed if prefixed is not None else scheme
    if os.path.isfile(rest):
        keypair = read_key_file(Path(rest), password)
        if wanted is not None and keypair.scheme is not wanted:
            raise KeystoreError(
                f"{rest} holds an {keypair.scheme.name.lower()} key, not {wanted.name.lower()}"
            )
    else:
        if wanted is None:
            wanted = SignatureScheme.ED25519
        try:
            keypair = keypair_from_uri(rest, wanted, password or "")
        except InvalidKey as e:
            raise KeystoreError(
                f"--key is neither a key file nor a usable {wanted.name.lower()} secret URI: {e}"
            ) from None
    if keypair.scheme not in allowed:
        raise KeystoreError(
            f"this key is {keypair.scheme.name.lower()}, but only "
            f"{' or '.join(s.name.lower() for s in allowed)} keys can be used here"
        )
    return keypair
