"""Account keys of both schemes Substrate wallets use, their derivation, verification and SS58 addresses.

- Ed25519 (PyNaCl), `Keypair`: the scheme of validators, consensus votes and node identities, and the
  default of `gradchain key`. Only hard junctions derive (`//x`), as in Substrate.
- Sr25519 (schnorrkel through py-sr25519-bindings), `Sr25519Keypair`: the default of polkadot-js, subkey
  and py-substrate-interface, for accounts only. Hard (`//x`) and soft (`/x`) junctions derive; signatures
  use Substrate's signing context `b"substrate"`.

Keys derived from a secret URI (`//Alice`, `<phrase>//foo//0`, `<phrase>/soft`) match Substrate's
`Pair::from_string` of the same scheme, so wallets (@polkadot/keyring, subkey) name the same accounts.
`verify_signature(scheme, ...)` checks a signature by its `sp_runtime::MultiSignature` variant; ECDSA is
refused with `UnsupportedScheme`, never reported as a bad signature.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Protocol

import nacl.exceptions
import nacl.signing
import nacl.utils
import sr25519
from bip39 import bip39_to_mini_secret, bip39_validate
from scalecodec.utils.ss58 import ss58_decode, ss58_encode

from chain.primitives.codec import encode_compact, encode_str, u64
from chain.primitives.hashing import blake2_256

DEV_PHRASE = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"
DEFAULT_SS58_FORMAT = 42
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
SEED_LEN = 32
SR25519_SECRET_LEN = 64  # schnorrkel's expanded secret key: 32-byte scalar ++ 32-byte nonce


class SignatureScheme(IntEnum):
    """The variants of `sp_runtime::MultiSignature`, by their SCALE index."""

    ED25519 = 0
    SR25519 = 1
    ECDSA = 2

    @property
    def variant(self) -> str:
        """The variant's name as Substrate and its clients spell it."""
        return ("Ed25519", "Sr25519", "Ecdsa")[self]

    @property
    def signature_len(self) -> int:
        return 65 if self is SignatureScheme.ECDSA else SIGNATURE_LEN

    @classmethod
    def named(cls, name: str) -> SignatureScheme:
        """`"ed25519"` or `"sr25519"` (any case) as a scheme an account key can have."""
        try:
            scheme = cls[name.strip().upper()]
        except KeyError:
            scheme = None
        if scheme not in KEY_SCHEMES:
            raise InvalidKey(
                f"unknown key scheme {name!r}; use one of {', '.join(s.name.lower() for s in KEY_SCHEMES)}"
            )
        return scheme


class InvalidKey(ValueError):
    """A secret URI, seed, public key or address that cannot be used."""


class InvalidAddress(InvalidKey):
    """Not an SS58 address or hex public key of a 32-byte account."""


class UnsupportedScheme(ValueError):
    """A MultiSignature variant this chain does not verify (ECDSA): neither valid nor a bad signature."""

    def __init__(self, scheme: SignatureScheme):
        self.scheme = scheme
        super().__init__(
            f"{scheme.variant} signatures are not supported on this chain; sign with "
            + " or ".join(s.variant for s in KEY_SCHEMES)
        )


class Signer(Protocol):
    """What signs an extrinsic: a keypair of either account scheme."""

    scheme: ClassVar[SignatureScheme]
    public: bytes

    def sign(self, message: bytes) -> bytes: ...

    def ss58(self, ss58_format: int = DEFAULT_SS58_FORMAT) -> str: ...


@dataclass(frozen=True)
class Keypair:
    """An Ed25519 keypair. `seed` is the 32-byte secret; `public` the 32-byte AccountId."""

    scheme: ClassVar[SignatureScheme] = SignatureScheme.ED25519
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


@dataclass(frozen=True)
class Sr25519Keypair:
    """An Sr25519 keypair. `secret` is schnorrkel's 64-byte secret key; `public` the 32-byte AccountId.

    `seed` is the 32-byte mini secret it was expanded from when that is known (a phrase or `0x` seed with no
    derivation path); a derived key has only its secret key, as derivation works on expanded keys.
    """

    scheme: ClassVar[SignatureScheme] = SignatureScheme.SR25519
    secret: bytes = field(repr=False)
    public: bytes
    seed: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_seed(cls, seed: bytes) -> Sr25519Keypair:
        """A 32-byte mini secret (expanded as Substrate does) or a 64-byte schnorrkel secret key."""
        seed = bytes(seed)
        if len(seed) == SEED_LEN:
            public, secret = sr25519.pair_from_seed(seed)
            return cls(bytes(secret), bytes(public), seed)
        if len(seed) == SR25519_SECRET_LEN:
            try:
                return cls(seed, bytes(sr25519.public_from_secret_key(seed)))
            except ValueError as e:
                raise InvalidKey(f"not an Sr25519 secret key: {e}") from None
        raise InvalidKey(
            f"an Sr25519 seed is {SEED_LEN} bytes (or a {SR25519_SECRET_LEN}-byte secret key), "
            f"got {len(seed)}"
        )

    @classmethod
    def generate(cls) -> Sr25519Keypair:
        return cls.from_seed(nacl.utils.random(SEED_LEN))

    @classmethod
    def from_uri(cls, uri: str, password: str = "") -> Sr25519Keypair:
        """Parse a Substrate secret URI, `[phrase|0x<seed>][//hard | /soft ...][///password]`, like
        `sr25519::Pair::from_string`; a URI that starts with `/` uses the standard development phrase."""
        seed, junctions = parse_secret_uri(uri, password, secret_lengths=(SEED_LEN, SR25519_SECRET_LEN))
        keypair = cls.from_seed(seed)
        if not junctions:
            return keypair
        public, secret = keypair.public, keypair.secret
        for hard, junction in junctions:
            derive = sr25519.hard_derive_keypair if hard else sr25519.derive_keypair
            _, public, secret = derive((_chain_code(junction), public, secret), b"")
        return cls(bytes(secret), bytes(public))

    def sign(self, message: bytes) -> bytes:
        return bytes(sr25519.sign((self.public, self.secret), message))

    def ss58(self, ss58_format: int = DEFAULT_SS58_FORMAT) -> str:
        return ss58_encode(self.public, ss58_format)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message` by `public`; never raises."""
    if len(public) != PUBLIC_KEY_LEN or len(signature) != SIGNATURE_LEN:
        return False
    try:
        nacl.signing.VerifyKey(public).verify(message, signature)
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return False


def verify_sr25519(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid Sr25519 signature of `message` by `public` in Substrate's signing
    context (`b"substrate"`, the one `sp_core::sr25519` signs in); never raises."""
    if len(public) != PUBLIC_KEY_LEN or len(signature) != SIGNATURE_LEN:
        return False
    try:
        return bool(sr25519.verify(bytes(signature), bytes(message), bytes(public)))
    except (ValueError, TypeError):  # not a schnorrkel signature, or a public key that is no Ristretto point
        return False


VERIFIERS: dict[SignatureScheme, Callable[[bytes, bytes, bytes], bool]] = {
    SignatureScheme.ED25519: verify,
    SignatureScheme.SR25519: verify_sr25519,
}
KEY_SCHEMES = tuple(VERIFIERS)  # the schemes an account can sign with here; ECDSA is not among them


def verify_signature(scheme: SignatureScheme, public: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` of the given MultiSignature scheme verifies; raises UnsupportedScheme for ECDSA."""
    verifier = VERIFIERS.get(scheme)
    if verifier is None:
        raise UnsupportedScheme(SignatureScheme(scheme))
    return verifier(public, message, signature)


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


def parse_secret_uri(
    uri: str, password: str = "", secret_lengths: tuple[int, ...] = (SEED_LEN,)
) -> tuple[bytes, list[tuple[bool, str]]]:
    """A secret URI's root secret (the BIP-39 mini secret, or the `0x` hex secret of one of `secret_lengths`)
    and its junctions as `(hard, name)`, in order."""
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
        if len(seed) not in secret_lengths:
            raise InvalidKey(
                f"a secret seed is {' or '.join(map(str, secret_lengths))} bytes, got {len(seed)}"
            )
    else:
        if not bip39_validate(phrase):
            raise InvalidKey("the secret phrase is not a valid BIP-39 mnemonic")
        seed = bytes(bip39_to_mini_secret(phrase, password))[:SEED_LEN]
    junctions = [(j.startswith("//"), j.lstrip("/")) for j in re.findall(r"//?[^/]+", m.group("path") or "")]
    return seed, junctions


def derive_seed_from_uri(uri: str, password: str = "") -> bytes:
    """The Ed25519 seed a secret URI names; soft junctions do not exist for Ed25519 and are refused."""
    seed, junctions = parse_secret_uri(uri, password)
    for hard, junction in junctions:
        if not hard:
            raise InvalidKey(
                f"soft derivation (/{junction}) is not supported for Ed25519; use a hard junction "
                f"(//{junction}) or the sr25519 scheme"
            )
        seed = derive_hard(seed, junction)
    return seed


def keypair_from_uri(
    uri: str, scheme: SignatureScheme = SignatureScheme.ED25519, password: str = ""
) -> Keypair | Sr25519Keypair:
    """The keypair of either account scheme that a secret URI names."""
    scheme = SignatureScheme(scheme)
    if scheme is SignatureScheme.SR25519:
        return Sr25519Keypair.from_uri(uri, password)
    if scheme is SignatureScheme.ED25519:
        return Keypair.from_uri(uri, password)
    raise UnsupportedScheme(scheme)


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
    """One of Substrate's well-known development accounts, e.g. `dev_keypair("Alice")` (Ed25519)."""
    return Keypair.from_uri(f"//{name}")


def sr25519_dev_keypair(name: str) -> Sr25519Keypair:
    """The Sr25519 development account of that name, polkadot-js's and subkey's default //Alice (5Grwva…)."""
    return Sr25519Keypair.from_uri(f"//{name}")
