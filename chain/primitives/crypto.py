"""Ed25519 keys (PyNaCl), Substrate's Ed25519 hard derivation, and SS58 addresses.

Keys derived from a secret URI (`//Alice`, `<phrase>//foo//0`) match Substrate's `ed25519::Pair::from_string`,
so wallets (@polkadot/keyring, subkey) name the same accounts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import nacl.exceptions
import nacl.signing
from bip39 import bip39_to_mini_secret, bip39_validate
from scalecodec.utils.ss58 import ss58_decode, ss58_encode

from chain.primitives.codec import encode_compact, encode_str, u64
from chain.primitives.hashing import blake2_256

DEV_PHRASE = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"
DEFAULT_SS58_FORMAT = 42
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
SEED_LEN = 32


class InvalidKey(ValueError):
    """A secret URI, seed, public key or address that cannot be used."""


class InvalidAddress(InvalidKey):
    """Not an SS58 address or hex public key of an Ed25519 account."""


@dataclass(frozen=True)
class Keypair:
    """An Ed25519 keypair. `seed` is the 32-byte secret; `public` the 32-byte AccountId."""

    seed: bytes = field(repr=False)
    public: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> Keypair:
        if len(seed) != SEED_LEN:
            raise InvalidKey(f"an Ed25519 seed is {SEED_LEN} bytes, got {len(seed)}")
        sk = nacl.signing.SigningKey(bytes(seed))
        return cls(bytes(seed), sk.verify_key.encode())

    @classmethod
    def generate(cls) -> Keypair:
        return cls.from_seed(nacl.signing.SigningKey.generate().encode())

    @classmethod
    def from_uri(cls, uri: str, password: str = "") -> Keypair:
        """Parse a Substrate secret URI: `[phrase|0x<seed>][//hard...][///password]`.

        A URI that starts with `//` uses the standard development phrase. Soft junctions (`/x`) do not exist
        for Ed25519 and are rejected, as Substrate does.
        """
        return cls.from_seed(derive_seed_from_uri(uri, password))

    def sign(self, message: bytes) -> bytes:
        return _signing_key(self.seed).sign(message).signature

    def ss58(self, ss58_format: int = DEFAULT_SS58_FORMAT) -> str:
        return ss58_encode(self.public, ss58_format)


_SIGNING_KEYS: dict[bytes, nacl.signing.SigningKey] = {}


def _signing_key(seed: bytes) -> nacl.signing.SigningKey:
    sk = _SIGNING_KEYS.get(seed)
    if sk is None:
        if len(_SIGNING_KEYS) > 4096:
            _SIGNING_KEYS.clear()
        sk = _SIGNING_KEYS[seed] = nacl.signing.SigningKey(seed)
    return sk


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message` by `public`; never raises."""
    if len(public) != PUBLIC_KEY_LEN or len(signature) != SIGNATURE_LEN:
        return False
    try:
        nacl.signing.VerifyKey(public).verify(message, signature)
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return False


_URI_RE = re.compile(r"^(?P<phrase>[^/]*)(?P<path>(//?[^/]+)*)(///(?P<password>.*))?$")


def _chain_code(junction: str) -> bytes:
    """A junction's 32-byte chain code: SCALE of a u64 for numbers, else of the string; hashed if over 32."""
    encoded = u64(int(junction)) if junction.isdigit() and int(junction) < 1 << 64 else encode_str(junction)
    if len(encoded) > 32:
        return blake2_256(encoded)
    return encoded.ljust(32, b"\x00")


def derive_hard(seed: bytes, junction: str) -> bytes:
    """Substrate's Ed25519 hard derivation: blake2_256(SCALE("Ed25519HDKD") ++ seed ++ chain_code)."""
    tag = b"Ed25519HDKD"
    return blake2_256(encode_compact(len(tag)) + tag + seed + _chain_code(junction))


def derive_seed_from_uri(uri: str, password: str = "") -> bytes:
    m = _URI_RE.match(uri)
    if m is None:
        raise InvalidKey(f"not a secret URI: {uri[:12]}…")
    phrase = m.group("phrase").strip() or DEV_PHRASE
    if m.group("password") is not None:
        password = m.group("password")
    if phrase.startswith("0x"):
        try:
            seed = bytes.fromhex(phrase[2:])
        except ValueError:
            raise InvalidKey("the secret seed is not valid hex") from None
        if len(seed) != SEED_LEN:
            raise InvalidKey(f"a secret seed is {SEED_LEN} bytes, got {len(seed)}")
    else:
        if not bip39_validate(phrase):
            raise InvalidKey("the secret phrase is not a valid BIP-39 mnemonic")
        seed = bytes(bip39_to_mini_secret(phrase, password))[:SEED_LEN]
    for junction in re.findall(r"//?[^/]+", m.group("path") or ""):
        if not junction.startswith("//"):
            raise InvalidKey(f"soft derivation ({junction}) is not supported for Ed25519")
        seed = derive_hard(seed, junction[2:])
    return seed


def decode_address(address: str) -> bytes:
    """An SS58 address (any network format) or a 0x-hex public key, as the 32-byte AccountId."""
    address = address.strip()
    if address.startswith("0x"):
        try:
            raw = bytes.fromhex(address[2:])
        except ValueError:
            raise InvalidAddress(f"{address!r} is not valid hex") from None
    else:
        try:
            raw = bytes.fromhex(ss58_decode(address))
        except Exception as e:  # scalecodec raises bare ValueError/IndexError on malformed addresses
            raise InvalidAddress(f"{address!r} is not a valid SS58 address: {e}") from None
    if len(raw) != PUBLIC_KEY_LEN:
        raise InvalidAddress(f"{address!r} decodes to {len(raw)} bytes; an AccountId is 32")
    return raw


def encode_address(public: bytes, ss58_format: int = DEFAULT_SS58_FORMAT) -> str:
    return ss58_encode(public, ss58_format)


DEV_ACCOUNT_NAMES = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")


def dev_keypair(name: str) -> Keypair:
    """One of Substrate's well-known development accounts, e.g. `dev_keypair("Alice")`."""
    return Keypair.from_uri(f"//{name}")
