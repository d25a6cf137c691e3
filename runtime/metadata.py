"""Metadata V14 and V15 (`RuntimeMetadataPrefixed`: b"meta", version), generated from the pallets' declarations.

Every type in it comes from the same descriptors the runtime encodes with (storage values, call
arguments, events, errors, constants), so the metadata cannot disagree with the chain. V14 is what
`state_getMetadata` and `Metadata_metadata` serve (older clients decode only that); V15, served by
`Metadata_metadata_at_version(15)`, adds pallet docs, the extrinsic's address, call, signature and extra
types, the runtime APIs (`runtime.api_metadata`) and the outer call, event and error enums.

System's constants include the block limits the executive enforces (`Executive._check_limits`):
BlockWeights (normal calls may fill `normal_ratio_percent` of `max_block_weight`, operational ones the whole
block, mandatory ones are not limited; no base weight is charged per block or per extrinsic; proof size is
not limited, so its limits are u64::MAX and the normal share of it), BlockLength
(the same shares of `max_block_length`), DbWeight (zero: the runtime charges each call its declared weight,
never per storage access) and Version (the runtime version signed payloads commit to).

`:code` does not hold Wasm here (the runtime is this Python package); it holds `runtime_code(configs)`, the
SCALE runtime version followed by the blake2-256 of the V14 metadata, so it identifies the runtime and
changes whenever `spec_version` (or anything the metadata describes) does. Genesis writes it and the
executive rewrites it at the first block a different runtime executes. The extrinsic's
signed extensions are listed in Substrate's order with `additional_signed` types chosen so the signed
payload is exactly `call ++ era ++ Compact(nonce) ++ Compact(tip) ++ spec_version ++ tx_version
++ genesis_hash ++ birth_hash`, which is what `chain.primitives.extrinsic.signing_payload` builds.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from chain.primitives.codec import encode_compact
from chain.primitives.hashing import blake2_256
from runtime.api_metadata import RUNTIME_APIS
from runtime.composition import ALL_PALLETS, EVENTS, RUNTIME_EVENT
from runtime.frame.pallet import RUNTIME_CALL, Constant, event_type
from runtime.frame.storage import StorageDoubleMap, StorageItem, StorageMap
from runtime.frame.support import WEIGHT, Weight, error_type
from runtime.frame.types import (
    H256,
    U8,
    U32,
    U64,
    U128,
    Array,
    Bytes,
    Compact,
    Enum,
    Field,
    MultiAddress,
    Option,
    Struct,
    Tuple,
    TypeRegistry,
    Unit,
    Variant,
    _str,
    _strs,
)
from runtime.pallets.system import SystemConfig
from runtime.version import RUNTIME_VERSION_TYPE, VERSION, RuntimeVersion

MAGIC = b"meta"
METADATA_VERSION = 14
SUPPORTED_VERSIONS = (14, 15)
CODE_KEY = b":code"

ERA = Enum(
    "sp_runtime::generic::era::Era",
    [Variant("Immortal", 0)] + [Variant(f"Mortal{i}", i, (Field(None, U8, "u8"),)) for i in range(1, 256)],
)
MULTI_SIGNATURE = Enum(
    "sp_runtime::MultiSignature",
    [
        Variant(
            "Ed25519",
            0,
            (
                Field(
                    None,
                    Struct("sp_core::ed25519::Signature", [Field(None, Array(U8, 64), "[u8; 64]")]),
                    "ed25519::Signature",
                ),
            ),
        ),
        Variant(
            "Sr25519",
            1,
            (
                Field(
                    None,
                    Struct("sp_core::sr25519::Signature", [Field(None, Array(U8, 64), "[u8; 64]")]),
                    "sr25519::Signature",
                ),
            ),
        ),
        Variant(
            "Ecdsa",
            2,
            (
                Field(
                    None,
                    Struct("sp_core::ecdsa::Signature", [Field(None, Array(U8, 65), "[u8; 65]")]),
                    "ecdsa::Signature",
                ),
            ),
        ),
    ],
)


def _ext(name: str, path: str, fields: list[Field]) -> Struct:
    return Struct(path, fields, params=[("T", None)])


SIGNED_EXTENSIONS: list[tuple[str, Struct, Any]] = [
    (
        "CheckNonZeroSender",
        _ext("", "frame_system::extensions::check_non_zero_sender::CheckNonZeroSender", []),
        Unit,
    ),
    ("CheckSpecVersion", _ext("", "frame_system::extensions::check_spec_version::CheckSpecVersion", []), U32),
    ("CheckTxVersion", _ext("", "frame_system::extensions::check_tx_version::CheckTxVersion", []), U32),
    ("CheckGenesis", _ext("", "frame_system::extensions::check_genesis::CheckGenesis", []), H256),
    (
        "CheckMortality",
        _ext("", "frame_system::extensions::check_mortality::CheckMortality", [Field(None, ERA, "Era")]),
        H256,
    ),
    (
        "CheckNonce",
        _ext(
            "", "frame_system::extensions::check_nonce::CheckNonce", [Field(None, Compact(U32), "T::Nonce")]
        ),
        Unit,
    ),
    ("CheckWeight", _ext("", "frame_system::extensions::check_weight::CheckWeight", []), Unit),
    (
        "ChargeTransactionPayment",
        _ext(
            "",
            "pallet_transaction_payment::ChargeTransactionPayment",
            [Field(None, Compact(U128), "BalanceOf<T>")],
        ),
        Unit,
    ),
]


def _storage_entry(reg: TypeRegistry, item: StorageItem) -> bytes:
    if isinstance(item, StorageMap):
        ty = (
            b"\x01"
            + encode_compact(1)
            + bytes([item.hasher.index])
            + encode_compact(reg.register(item.key_type))
            + encode_compact(reg.register(item.value))
        )
    elif isinstance(item, StorageDoubleMap):
        ty = (
            b"\x01"
            + encode_compact(2)
            + bytes([item.hasher1.index, item.hasher2.index])
            + encode_compact(reg.register(Tuple(item.key1, item.key2)))
            + encode_compact(reg.register(item.value))
        )
    else:
        ty = b"\x00" + encode_compact(reg.register(item.value))
    default = item.default_bytes()
    return (
        _str(item.name)
        + bytes([item.modifier])
        + ty
        + encode_compact(len(default))
        + default
        + _strs([item.docs] if item.docs else [])
    )


def _option_ty(reg: TypeRegistry, t) -> bytes:  # noqa: ANN001
    return b"\x00" if t is None else b"\x01" + encode_compact(reg.register(t))


# --- System's block limits, as frame_system::limits declares them -------------------------------------------

WEIGHTS_PER_CLASS = Struct(
    "frame_system::limits::WeightsPerClass",
    [
        Field("base_extrinsic", WEIGHT, "Weight"),
        Field("max_extrinsic", Option(WEIGHT), "Option<Weight>"),
        Field("max_total", Option(WEIGHT), "Option<Weight>"),
        Field("reserved", Option(WEIGHT), "Option<Weight>"),
    ],
)


def _per_class(t) -> Struct:  # noqa: ANN001
    return Struct(
        "frame_support::dispatch::PerDispatchClass",
        [Field("normal", t, "T"), Field("operational", t, "T"), Field("mandatory", t, "T")],
        params=[("T", t)],
    )


BLOCK_WEIGHTS = Struct(
    "frame_system::limits::BlockWeights",
    [
        Field("base_block", WEIGHT, "Weight"),
        Field("max_block", WEIGHT, "Weight"),
        Field("per_class", _per_class(WEIGHTS_PER_CLASS), "PerDispatchClass<WeightsPerClass>"),
    ],
)
BLOCK_LENGTH = Struct(
    "frame_system::limits::BlockLength", [Field("max", _per_class(U32), "PerDispatchClass<u32>")]
)
RUNTIME_DB_WEIGHT = Struct(
    "sp_weights::RuntimeDbWeight", [Field("read", U64, "u64"), Field("write", U64, "u64")]
)


UNLIMITED_PROOF = (
    1 << 64
) - 1  # the runtime does not limit proof size (a solo chain, as Substrate's template)


def block_weights(c: SystemConfig) -> dict:
    whole = Weight(c.max_block_weight, UNLIMITED_PROOF)
    normal = Weight(
        c.max_block_weight * c.normal_ratio_percent // 100, UNLIMITED_PROOF * c.normal_ratio_percent // 100
    )

    def per_class(max_total: Weight | None, reserved: Weight | None) -> dict:
        return {
            "base_extrinsic": Weight(0),
            "max_extrinsic": max_total,
            "max_total": max_total,
            "reserved": reserved,
        }

    return {
        "base_block": Weight(0),
        "max_block": whole,
        "per_class": {
            "normal": per_class(normal, None),
            "operational": per_class(
                whole, Weight(whole.ref_time - normal.ref_time, whole.proof_size - normal.proof_size)
            ),
            "mandatory": per_class(None, None),
        },
    }


def block_length(c: SystemConfig) -> dict:
    normal = c.max_block_length * c.normal_ratio_percent // 100
    return {"max": {"normal": normal, "operational": c.max_block_length, "mandatory": c.max_block_length}}


SYSTEM_LIMITS = (
    Constant(
        "BlockWeights", BLOCK_WEIGHTS, block_weights, "Block & extrinsics weights: base values and limits."
    ),
    Constant("BlockLength", BLOCK_LENGTH, block_length, "The maximum length of a block (in bytes)."),
)
SYSTEM_VERSIONS = (
    Constant(
        "DbWeight",
        RUNTIME_DB_WEIGHT,
        lambda c: {"read": 0, "write": 0},
        "The weight of runtime database operations the runtime can invoke (none: calls carry fixed weights).",
    ),
    Constant(
        "Version", RUNTIME_VERSION_TYPE, lambda c: VERSION.as_dict(), "Get the chain's in-code version."
    ),
)


def pallet_constants(pallet) -> tuple[Constant, ...]:  # noqa: ANN001
    """The pallet's declared constants; System's with its limits and version around them, in Substrate's order
    (BlockWeights, BlockLength, BlockHashCount, DbWeight, Version, SS58Prefix)."""
    if pallet.name != "System":
        return pallet.constants
    *head, last = pallet.constants
    return (*SYSTEM_LIMITS, *head, *SYSTEM_VERSIONS, last)


# --- the document ------------------------------------------------------------------------------------------


def _pallet(reg: TypeRegistry, p, configs: dict[type, Any], version: int) -> bytes:  # noqa: ANN001
    items = list(p.storage) + ([EVENTS] if p.name == "System" else [])
    storage = (
        b"\x01" + _str(p.name) + encode_compact(len(items)) + b"".join(_storage_entry(reg, i) for i in items)
        if items
        else b"\x00"
    )
    calls = _option_ty(reg, p.call_type() if p.calls else None)
    events = _option_ty(reg, event_type(p.events) if p.events else None)
    cfg = configs.get(p.config) if p.config else None
    declared = pallet_constants(p)
    constants = encode_compact(len(declared)) + b"".join(
        _str(c.name)
        + encode_compact(reg.register(c.type))
        + Bytes.encode(c.type.encode(c.value(cfg)))
        + _strs([c.doc] if c.doc else [])
        for c in declared
    )
    errors = _option_ty(reg, error_type(p.errors) if p.errors else None)
    docs = _strs([]) if version >= 15 else b""
    return _str(p.name) + storage + calls + events + constants + errors + bytes([p.index]) + docs


def _extrinsic(reg: TypeRegistry, version: int) -> bytes:
    extra = Tuple(*(ext for _, ext, _ in SIGNED_EXTENSIONS))
    unchecked = Struct(
        "sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic",
        [Field(None, Bytes, None)],
        params=[
            ("Address", MultiAddress),
            ("Call", RUNTIME_CALL),
            ("Signature", MULTI_SIGNATURE),
            ("Extra", extra),
        ],
    )
    extensions = encode_compact(len(SIGNED_EXTENSIONS)) + b"".join(
        _str(name) + encode_compact(reg.register(ext)) + encode_compact(reg.register(add))
        for name, ext, add in SIGNED_EXTENSIONS
    )
    if version == 14:
        return encode_compact(reg.register(unchecked)) + bytes([4]) + extensions
    return (
        bytes([4])
        + b"".join(
            encode_compact(reg.register(t)) for t in (MultiAddress, RUNTIME_CALL, MULTI_SIGNATURE, extra)
        )
        + extensions
    )


def _runtime_apis(reg: TypeRegistry) -> bytes:
    """`Vec<RuntimeApiMetadata { name, methods: Vec<{ name, inputs: Vec<{ name, ty }>, output, docs }>, docs }>`."""
    return encode_compact(len(RUNTIME_APIS)) + b"".join(
        _str(api.name)
        + encode_compact(len(api.methods))
        + b"".join(
            _str(m.name)
            + encode_compact(len(m.inputs))
            + b"".join(_str(n) + encode_compact(reg.register(t)) for n, t in m.inputs)
            + encode_compact(reg.register(m.output))
            + _strs([m.doc])
            for m in api.methods
        )
        + _strs([api.doc])
        for api in RUNTIME_APIS
    )


def runtime_error_type() -> Enum:
    """`<crate>::RuntimeError`: one variant per pallet with errors, at the pallet's index, holding its Error."""
    return Enum(
        "gradchain_runtime::RuntimeError",
        [
            Variant(p.name, p.index, (Field(None, error_type(p.errors), f"{p.name}Error"),))
            for p in ALL_PALLETS
            if p.errors
        ],
    )


def build_metadata(configs: dict[type, Any], version: int = METADATA_VERSION) -> bytes:
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"metadata version {version} is not one of {SUPPORTED_VERSIONS}")
    reg = TypeRegistry()
    reg.register(RUNTIME_CALL)
    reg.register(RUNTIME_EVENT)
    pallets = [_pallet(reg, p, configs, version) for p in ALL_PALLETS]
    extrinsic = _extrinsic(reg, version)
    runtime_ty = encode_compact(reg.register(Struct("gradchain_runtime::Runtime", [])))
    tail = b""
    if version >= 15:
        outer_enums = b"".join(
            encode_compact(reg.register(t)) for t in (RUNTIME_CALL, RUNTIME_EVENT, runtime_error_type())
        )
        tail = _runtime_apis(reg) + outer_enums + encode_compact(0)  # no custom values
    return (
        MAGIC
        + bytes([version])
        + reg.encode()
        + encode_compact(len(pallets))
        + b"".join(pallets)
        + extrinsic
        + runtime_ty
        + tail
    )


@cache
def _cached(key: tuple, version: int) -> bytes:
    return build_metadata(dict(key), version)


def _key(configs: dict[type, Any]) -> tuple:
    return tuple(sorted(configs.items(), key=lambda kv: kv[0].__name__))


def metadata_bytes(configs: dict[type, Any], version: int = METADATA_VERSION) -> bytes:
    """The SCALE metadata blob of `version` (`state_getMetadata` serves V14), cached per configuration."""
    return _cached(_key(configs), version)


@cache
def _code(key: tuple, version: RuntimeVersion) -> bytes:
    return version.encode() + blake2_256(_cached(key, METADATA_VERSION))


def runtime_code(configs: dict[type, Any], version: RuntimeVersion = VERSION) -> bytes:
    """What `:code` holds for this runtime (see the module docstring)."""
    return _code(_key(configs), version)
