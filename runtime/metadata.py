"""Metadata V14 (`RuntimeMetadataPrefixed`: b"meta", version 14), generated from the pallets' declarations.

Every type in it comes from the same descriptors the runtime encodes with (storage values, call
arguments, events, errors, constants), so the metadata cannot disagree with the chain. The extrinsic's
signed extensions are listed in Substrate's order with `additional_signed` types chosen so the signed
payload is exactly `call ++ era ++ Compact(nonce) ++ Compact(tip) ++ spec_version ++ tx_version
++ genesis_hash ++ birth_hash`, which is what `chain.primitives.extrinsic.signing_payload` builds.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from chain.primitives.codec import encode_compact
from runtime.composition import ALL_PALLETS, EVENTS, RUNTIME_EVENT
from runtime.frame.pallet import RUNTIME_CALL, event_type
from runtime.frame.storage import StorageDoubleMap, StorageItem, StorageMap
from runtime.frame.support import error_type
from runtime.frame.types import (
    H256,
    U8,
    U32,
    U128,
    Array,
    Bytes,
    Compact,
    Enum,
    Field,
    MultiAddress,
    Struct,
    Tuple,
    TypeRegistry,
    Unit,
    Variant,
    _str,
    _strs,
)

MAGIC = b"meta"
METADATA_VERSION = 14
SUPPORTED_VERSIONS = (14,)

ERA = Enum("sp_runtime::generic::era::Era", [Variant("Immortal", 0)] + [
    Variant(f"Mortal{i}", i, (Field(None, U8, "u8"),)) for i in range(1, 256)])
MULTI_SIGNATURE = Enum("sp_runtime::MultiSignature", [
    Variant("Ed25519", 0, (Field(None, Struct("sp_core::ed25519::Signature", [Field(None, Array(U8, 64), "[u8; 64]")]),
                                 "ed25519::Signature"),)),
    Variant("Sr25519", 1, (Field(None, Struct("sp_core::sr25519::Signature", [Field(None, Array(U8, 64), "[u8; 64]")]),
                                 "sr25519::Signature"),)),
    Variant("Ecdsa", 2, (Field(None, Struct("sp_core::ecdsa::Signature", [Field(None, Array(U8, 65), "[u8; 65]")]),
                               "ecdsa::Signature"),)),
])


def _ext(name: str, path: str, fields: list[Field]) -> Struct:
    return Struct(path, fields, params=[("T", None)])


SIGNED_EXTENSIONS: list[tuple[str, Struct, Any]] = [
    ("CheckNonZeroSender", _ext("", "frame_system::extensions::check_non_zero_sender::CheckNonZeroSender", []), Unit),
    ("CheckSpecVersion", _ext("", "frame_system::extensions::check_spec_version::CheckSpecVersion", []), U32),
    ("CheckTxVersion", _ext("", "frame_system::extensions::check_tx_version::CheckTxVersion", []), U32),
    ("CheckGenesis", _ext("", "frame_system::extensions::check_genesis::CheckGenesis", []), H256),
    ("CheckMortality", _ext("", "frame_system::extensions::check_mortality::CheckMortality",
                            [Field(None, ERA, "Era")]), H256),
    ("CheckNonce", _ext("", "frame_system::extensions::check_nonce::CheckNonce",
                        [Field(None, Compact(U32), "T::Nonce")]), Unit),
    ("CheckWeight", _ext("", "frame_system::extensions::check_weight::CheckWeight", []), Unit),
    ("ChargeTransactionPayment", _ext("", "pallet_transaction_payment::ChargeTransactionPayment",
                                      [Field(None, Compact(U128), "BalanceOf<T>")]), Unit),
]


def _storage_entry(reg: TypeRegistry, item: StorageItem) -> bytes:
    if isinstance(item, StorageMap):
        ty = (b"\x01" + encode_compact(1) + bytes([item.hasher.index]) + encode_compact(reg.register(item.key_type))
              + encode_compact(reg.register(item.value)))
    elif isinstance(item, StorageDoubleMap):
        ty = (b"\x01" + encode_compact(2) + bytes([item.hasher1.index, item.hasher2.index])
              + encode_compact(reg.register(Tuple(item.key1, item.key2))) + encode_compact(reg.register(item.value)))
    else:
        ty = b"\x00" + encode_compact(reg.register(item.value))
    default = item.default_bytes()
    return (_str(item.name) + bytes([item.modifier]) + ty + encode_compact(len(default)) + default
            + _strs([item.docs] if item.docs else []))


def _option_ty(reg: TypeRegistry, t) -> bytes:  # noqa: ANN001
    return b"\x00" if t is None else b"\x01" + encode_compact(reg.register(t))


def build_metadata(configs: dict[type, Any]) -> bytes:
    reg = TypeRegistry()
    reg.register(RUNTIME_CALL)
    reg.register(RUNTIME_EVENT)
    pallets = []
    for p in ALL_PALLETS:
        items = list(p.storage) + ([EVENTS] if p.name == "System" else [])
        storage = (b"\x01" + _str(p.name) + encode_compact(len(items)) + b"".join(_storage_entry(reg, i) for i in items)
                   if items else b"\x00")
        calls = _option_ty(reg, p.call_type() if p.calls else None)
        events = _option_ty(reg, event_type(p.events) if p.events else None)
        cfg = configs.get(p.config) if p.config else None
        constants = encode_compact(len(p.constants)) + b"".join(
            _str(c.name) + encode_compact(reg.register(c.type))
            + Bytes.encode(c.type.encode(c.value(cfg))) + _strs([c.doc] if c.doc else [])
            for c in p.constants)
        errors = _option_ty(reg, error_type(p.errors) if p.errors else None)
        pallets.append(_str(p.name) + storage + calls + events + constants + errors + bytes([p.index]))
    extra = Tuple(*(ext for _, ext, _ in SIGNED_EXTENSIONS))
    unchecked = Struct("sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic", [Field(None, Bytes, None)],
                       params=[("Address", MultiAddress), ("Call", RUNTIME_CALL), ("Signature", MULTI_SIGNATURE),
                               ("Extra", extra)])
    extrinsic = (encode_compact(reg.register(unchecked)) + bytes([4]) + encode_compact(len(SIGNED_EXTENSIONS))
                 + b"".join(_str(name) + encode_compact(reg.register(ext)) + encode_compact(reg.register(add))
                            for name, ext, add in SIGNED_EXTENSIONS))
    runtime_ty = encode_compact(reg.register(Struct("gradchain_runtime::Runtime", [])))
    return (MAGIC + bytes([METADATA_VERSION]) + reg.encode() + encode_compact(len(pallets)) + b"".join(pallets)
            + extrinsic + runtime_ty)


@cache
def _cached(key: tuple) -> bytes:
    return build_metadata(dict(key))


def metadata_bytes(configs: dict[type, Any]) -> bytes:
    """The SCALE metadata blob `state_getMetadata` returns (cached per configuration)."""
    return _cached(tuple(sorted(configs.items(), key=lambda kv: kv[0].__name__)))
