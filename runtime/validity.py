"""Transaction validity: Substrate's `TransactionValidityError` with its variant indices and RPC texts.

Every rejection is a typed exception carrying the facts (`"nonce 7 is stale: the account's next nonce is
9"`), and its `encode()` is the SCALE `TransactionValidityError`, so the JSON-RPC layer can answer with
code 1010 and Substrate's wording (`rpc_message`) while logs keep the facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from chain.primitives.codec import encode_compact, u64


class TransactionSource(IntEnum):
    IN_BLOCK = 0
    LOCAL = 1
    EXTERNAL = 2


class TransactionValidityError(Exception):
    kind = 0  # 0 Invalid, 1 Unknown
    index = 0
    rpc_message = "Invalid Transaction"

    def encode(self) -> bytes:
        return bytes([self.kind, self.index])


class InvalidTransaction(TransactionValidityError):
    kind = 0


class Call(InvalidTransaction):
    index, rpc_message = 0, "Transaction call is not expected"


class Payment(InvalidTransaction):
    index, rpc_message = 1, "Inability to pay some fees (e.g. account balance too low)"


class Future(InvalidTransaction):
    index, rpc_message = 2, "Transaction will be valid in the future"


class Stale(InvalidTransaction):
    index, rpc_message = 3, "Transaction is outdated"


class BadProof(InvalidTransaction):
    index, rpc_message = 4, "Transaction has a bad signature"


class AncientBirthBlock(InvalidTransaction):
    index, rpc_message = 5, "Transaction has an ancient birth block"


class ExhaustsResources(InvalidTransaction):
    index, rpc_message = 6, "Transaction would exhaust the block limits"


class BadMandatory(InvalidTransaction):
    index, rpc_message = 8, "A call was labelled as mandatory, but resulted in an Error."


class MandatoryValidation(InvalidTransaction):
    index, rpc_message = 9, "Transaction dispatch is mandatory; transactions must not be validated."


class BadSigner(InvalidTransaction):
    index, rpc_message = 10, "Invalid signing address"


class UnknownTransaction(TransactionValidityError):
    kind = 1


class UnknownCustom(UnknownTransaction):
    """`UnknownTransaction::Custom(code)`: this runtime's own reasons it cannot judge a transaction."""

    index = 2
    code = 0
    rpc_message = "UnknownTransaction custom error"

    def encode(self) -> bytes:
        return bytes([self.kind, self.index, self.code])


class CannotLookup(UnknownTransaction):
    index, rpc_message = 0, "Could not lookup information required to validate the transaction"


class NoUnsignedValidator(UnknownTransaction):
    index, rpc_message = 1, "Could not find an unsigned validator for the unsigned transaction"


class UnsupportedSignatureScheme(UnknownCustom):
    """A MultiSignature variant the runtime cannot verify (Ecdsa): not a bad signature, which would blame the
    key, but a scheme to avoid. `UnknownTransaction::Custom(1)`, so the author API answers 1011 with this
    text where a bad signature is 1010 "Transaction has a bad signature"."""

    code = 1
    rpc_message = (
        "Unsupported signature scheme: this chain verifies Ed25519 and Sr25519 signatures, not Ecdsa"
    )


class Undecodable(Call):
    """Bytes that are not an extrinsic of this chain (reported as InvalidTransaction::Call)."""


@dataclass(frozen=True)
class ValidTransaction:
    """Substrate's ValidTransaction: the pool orders by priority and chains by requires/provides tags."""

    priority: int
    requires: list[bytes] = field(default_factory=list)
    provides: list[bytes] = field(default_factory=list)
    longevity: int = (1 << 64) - 1
    propagate: bool = True

    def encode(self) -> bytes:
        def tags(ts: list[bytes]) -> bytes:
            return encode_compact(len(ts)) + b"".join(encode_compact(len(t)) + t for t in ts)

        return (
            u64(self.priority)
            + tags(self.requires)
            + tags(self.provides)
            + u64(self.longevity)
            + (b"\x01" if self.propagate else b"\x00")
        )
