"""Dispatch support shared by every pallet: weights, dispatch info, origins and dispatch errors.

The SCALE shapes are Substrate's (`sp_weights::weight_v2::Weight`, `frame_support::dispatch::DispatchInfo`,
`sp_runtime::DispatchError` with `ModuleError { index, error: [u8; 4] }`), so clients decode
`System.ExtrinsicFailed` with the metadata alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated

from chain.primitives.codec import encode_compact
from runtime.frame.types import U8, U64, Array, Compact, Enum, Field, Record, Struct, Variant


@dataclass(frozen=True, slots=True)
class Weight:
    """Execution time in picoseconds (`ref_time`) and proof size in bytes, as Substrate's Weight v2."""

    ref_time: Annotated[int, Compact(U64), "u64"]
    proof_size: Annotated[int, Compact(U64), "u64"] = 0

    def __add__(self, other: Weight) -> Weight:
        return Weight(self.ref_time + other.ref_time, self.proof_size + other.proof_size)

    def encode(self) -> bytes:
        return encode_compact(self.ref_time) + encode_compact(self.proof_size)


WEIGHT = Record("sp_weights::weight_v2::Weight", Weight)


class DispatchClass(IntEnum):
    NORMAL = 0
    OPERATIONAL = 1
    MANDATORY = 2


class Pays(IntEnum):
    YES = 0
    NO = 1


DISPATCH_CLASS = Enum(
    "frame_support::dispatch::DispatchClass",
    [Variant("Normal", 0), Variant("Operational", 1), Variant("Mandatory", 2)],
)
PAYS = Enum("frame_support::dispatch::Pays", [Variant("Yes", 0), Variant("No", 1)])


@dataclass(frozen=True, slots=True)
class DispatchInfo:
    weight: Weight
    dispatch_class: DispatchClass = DispatchClass.NORMAL
    pays_fee: Pays = Pays.YES

    def encode(self) -> bytes:
        return self.weight.encode() + bytes([self.dispatch_class, self.pays_fee])


class _DispatchInfoType(Struct):
    def encode(self, value: DispatchInfo) -> bytes:
        return value.encode()

    def decode(self, r):  # noqa: ANN001 - Reader
        w = WEIGHT.decode(r)
        return DispatchInfo(w, DispatchClass(r.u8()), Pays(r.u8()))


DISPATCH_INFO = _DispatchInfoType(
    "frame_support::dispatch::DispatchInfo",
    [
        Field("weight", WEIGHT, "Weight"),
        Field("class", DISPATCH_CLASS, "DispatchClass"),
        Field("pays_fee", PAYS, "Pays"),
    ],
)


# --- origins --------------------------------------------------------------------------------------------


class OriginKind(IntEnum):
    ROOT = 0
    SIGNED = 1
    NONE = 2


@dataclass(frozen=True, slots=True)
class Origin:
    kind: OriginKind
    who: bytes | None = None

    @staticmethod
    def signed(who: bytes) -> Origin:
        return Origin(OriginKind.SIGNED, who)


ROOT = Origin(OriginKind.ROOT)
NONE = Origin(OriginKind.NONE)


# --- dispatch errors ------------------------------------------------------------------------------------


class DispatchError(Exception):
    """A call failed; its writes are rolled back. `variant` is the `sp_runtime::DispatchError` index."""

    variant = 0  # Other
    name = "Other"

    def encode(self) -> bytes:
        return bytes([self.variant])

    def describe(self) -> dict:
        return {"kind": self.name, "message": str(self)}


class BadOrigin(DispatchError):
    """The call needs another origin (signed, root or none/inherent) than the one it was given."""

    variant = 2
    name = "BadOrigin"


class CannotLookup(DispatchError):
    variant = 1
    name = "CannotLookup"


class TokenError(DispatchError):
    """`DispatchError::Token(TokenError)`: `token` is the TokenError variant index."""

    variant = 7
    name = "Token"
    token = 0

    def encode(self) -> bytes:
        return bytes([self.variant, self.token])


class FundsUnavailable(TokenError):
    token = 0


class ArithmeticError(DispatchError):  # noqa: A001 - Substrate's name, scoped to this module
    variant = 8
    name = "Arithmetic"
    arith = 1  # Overflow

    def encode(self) -> bytes:
        return bytes([self.variant, self.arith])


class PalletError(DispatchError):
    """Base of each pallet's error type; `module_index` is set when the runtime is composed.

    Declare members as class attributes holding their doc string and decorate with `@pallet_errors(path)`;
    each becomes a subclass with its index in declaration order, raised as `BalancesError.Foo("facts")`.
    """

    variant = 3
    name = "Module"
    module_index = 255
    index = 255
    members: tuple[type[PalletError], ...] = ()
    path = ""

    def encode(self) -> bytes:
        return bytes([self.variant, self.module_index, self.index, 0, 0, 0])

    def describe(self) -> dict:
        return {
            "kind": "Module",
            "index": self.module_index,
            "error": self.index,
            "name": type(self).__name__,
            "message": str(self),
        }


def pallet_errors(path: str):
    def decorate(cls: type[PalletError]) -> type[PalletError]:
        members = []
        for name, doc in list(vars(cls).items()):
            if name.startswith("_") or not isinstance(doc, str):
                continue
            sub = type(
                name,
                (cls,),
                {
                    "__doc__": doc,
                    "index": len(members),
                    "__module__": cls.__module__,
                    "__qualname__": f"{cls.__qualname__}.{name}",
                },
            )
            setattr(cls, name, sub)
            members.append(sub)
        cls.members = tuple(members)
        cls.path = path
        return cls

    return decorate


def error_type(cls: type[PalletError]) -> Enum:
    """The metadata enum of a pallet's errors (`pallet_x::pallet::Error`), unit variants with docs; cached."""
    cached = cls.__dict__.get("_error_type")
    if cached is None:
        cached = Enum(
            cls.path,
            [Variant(m.__name__, m.index, (), (m.__doc__ or "",)) for m in cls.members],
            params=[("T", None)],
        )
        cls._error_type = cached
    return cached


MODULE_ERROR = Struct(
    "sp_runtime::ModuleError", [Field("index", U8, "u8"), Field("error", Array(U8, 4), "[u8; 4]")]
)
TOKEN_ERROR = Enum(
    "sp_runtime::TokenError",
    [
        Variant(n, i)
        for i, n in enumerate(
            [
                "FundsUnavailable",
                "OnlyProvider",
                "BelowMinimum",
                "CannotCreate",
                "UnknownAsset",
                "Frozen",
                "Unsupported",
                "CannotCreateHold",
                "NotExpendable",
                "Blocked",
            ]
        )
    ],
)
ARITHMETIC_ERROR = Enum(
    "sp_arithmetic::ArithmeticError",
    [Variant("Underflow", 0), Variant("Overflow", 1), Variant("DivisionByZero", 2)],
)
TRANSACTIONAL_ERROR = Enum(
    "sp_runtime::TransactionalError", [Variant("LimitReached", 0), Variant("NoLayer", 1)]
)


class _DispatchErrorType(Enum):
    """Events carry a raised DispatchError; it encodes itself. Decoding yields the generic enum value."""

    def encode(self, value) -> bytes:  # noqa: ANN001
        return value.encode() if isinstance(value, DispatchError) else super().encode(value)


DISPATCH_ERROR = _DispatchErrorType(
    "sp_runtime::DispatchError",
    [
        Variant("Other", 0),
        Variant("CannotLookup", 1),
        Variant("BadOrigin", 2),
        Variant("Module", 3, (Field(None, MODULE_ERROR, "ModuleError"),)),
        Variant("ConsumerRemaining", 4),
        Variant("NoProviders", 5),
        Variant("TooManyConsumers", 6),
        Variant("Token", 7, (Field(None, TOKEN_ERROR, "TokenError"),)),
        Variant("Arithmetic", 8, (Field(None, ARITHMETIC_ERROR, "ArithmeticError"),)),
        Variant("Transactional", 9, (Field(None, TRANSACTIONAL_ERROR, "TransactionalError"),)),
        Variant("Exhausted", 10),
        Variant("Corruption", 11),
        Variant("Unavailable", 12),
        Variant("RootNotAllowed", 13),
    ],
)
