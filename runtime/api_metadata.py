"""The runtime APIs as metadata V15 lists them: each trait, its methods, their argument and result types.

These are exactly the methods `state_call` and `chainHead_v1_call` answer (chain.api.rpc.runtime_calls), with
the types their SCALE arguments and results have there, so a client that builds a typed runtime-API call from
the metadata (polkadot-api's `apis.*`) sends bytes the node decodes and reads back what it answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.frame.types import (
    H256,
    U8,
    U32,
    U64,
    U128,
    AccountId,
    Bool,
    Bytes,
    Enum,
    Field,
    Option,
    ScaleType,
    Struct,
    Variant,
    Vec,
)
from runtime.pallets.transaction_payment import RUNTIME_DISPATCH_INFO
from runtime.version import RUNTIME_VERSION_TYPE

OPAQUE_METADATA = Struct("sp_core::OpaqueMetadata", [Field(None, Bytes, "Vec<u8>")])
# `Block::Extrinsic` in runtime APIs: the encoded extrinsic, itself length-prefixed (an opaque Vec<u8>).
OPAQUE_EXTRINSIC = Struct("sp_runtime::OpaqueExtrinsic", [Field(None, Bytes, "Vec<u8>")])
TRANSACTION_SOURCE = Enum(
    "sp_runtime::transaction_validity::TransactionSource",
    [Variant("InBlock", 0), Variant("Local", 1), Variant("External", 2)],
)
TAGS = Vec(Bytes)
VALID_TRANSACTION = Struct(
    "sp_runtime::transaction_validity::ValidTransaction",
    [
        Field("priority", U64, "TransactionPriority"),
        Field("requires", TAGS, "Vec<TransactionTag>"),
        Field("provides", TAGS, "Vec<TransactionTag>"),
        Field("longevity", U64, "TransactionLongevity"),
        Field("propagate", Bool, "bool"),
    ],
)
INVALID_TRANSACTION = Enum(
    "sp_runtime::transaction_validity::InvalidTransaction",
    [
        Variant("Call", 0),
        Variant("Payment", 1),
        Variant("Future", 2),
        Variant("Stale", 3),
        Variant("BadProof", 4),
        Variant("AncientBirthBlock", 5),
        Variant("ExhaustsResources", 6),
        Variant("Custom", 7, (Field(None, U8, "u8"),)),
        Variant("BadMandatory", 8),
        Variant("MandatoryValidation", 9),
        Variant("BadSigner", 10),
    ],
)
UNKNOWN_TRANSACTION = Enum(
    "sp_runtime::transaction_validity::UnknownTransaction",
    [
        Variant("CannotLookup", 0),
        Variant("NoUnsignedValidator", 1),
        Variant("Custom", 2, (Field(None, U8, "u8"),)),
    ],
)
TRANSACTION_VALIDITY_ERROR = Enum(
    "sp_runtime::transaction_validity::TransactionValidityError",
    [
        Variant("Invalid", 0, (Field(None, INVALID_TRANSACTION, "InvalidTransaction"),)),
        Variant("Unknown", 1, (Field(None, UNKNOWN_TRANSACTION, "UnknownTransaction"),)),
    ],
)
TRANSACTION_VALIDITY = Enum(
    "Result",
    [
        Variant("Ok", 0, (Field(None, VALID_TRANSACTION, None),)),
        Variant("Err", 1, (Field(None, TRANSACTION_VALIDITY_ERROR, None),)),
    ],
    params=[("T", VALID_TRANSACTION), ("E", TRANSACTION_VALIDITY_ERROR)],
)
INCLUSION_FEE = Struct(
    "pallet_transaction_payment::types::InclusionFee",
    [
        Field("base_fee", U128, "Balance"),
        Field("len_fee", U128, "Balance"),
        Field("adjusted_weight_fee", U128, "Balance"),
    ],
    params=[("Balance", U128)],
)
# FeeDetails' `tip` is `#[codec(skip)]` in Substrate: only the optional inclusion fee is encoded.
FEE_DETAILS = Struct(
    "pallet_transaction_payment::types::FeeDetails",
    [Field("inclusion_fee", Option(INCLUSION_FEE), "Option<InclusionFee<Balance>>")],
    params=[("Balance", U128)],
)


@dataclass(frozen=True)
class ApiMethod:
    name: str
    inputs: tuple[tuple[str, ScaleType], ...]
    output: ScaleType
    doc: str


@dataclass(frozen=True)
class RuntimeApi:
    name: str
    methods: tuple[ApiMethod, ...]
    doc: str


RUNTIME_APIS: tuple[RuntimeApi, ...] = (
    RuntimeApi(
        "Core",
        (ApiMethod("version", (), RUNTIME_VERSION_TYPE, "Returns the version of the runtime."),),
        "The `Core` runtime api that every Substrate runtime needs to implement.",
    ),
    RuntimeApi(
        "Metadata",
        (
            ApiMethod("metadata", (), OPAQUE_METADATA, "Returns the metadata of a runtime (V14)."),
            ApiMethod(
                "metadata_at_version",
                (("version", U32),),
                Option(OPAQUE_METADATA),
                "Returns the metadata at a given version, or None if this runtime does not produce it.",
            ),
            ApiMethod("metadata_versions", (), Vec(U32), "Returns the supported metadata versions."),
        ),
        "The `Metadata` api trait that returns metadata for the runtime.",
    ),
    RuntimeApi(
        "AccountNonceApi",
        (
            ApiMethod(
                "account_nonce",
                (("account", AccountId),),
                U32,
                "Get current account nonce of given `AccountId`.",
            ),
        ),
        "The API to query account nonce.",
    ),
    RuntimeApi(
        "TransactionPaymentApi",
        (
            ApiMethod(
                "query_info",
                (("uxt", OPAQUE_EXTRINSIC), ("len", U32)),
                RUNTIME_DISPATCH_INFO,
                "Weight, dispatch class and the fee (without tip) of an extrinsic.",
            ),
            ApiMethod(
                "query_fee_details",
                (("uxt", OPAQUE_EXTRINSIC), ("len", U32)),
                FEE_DETAILS,
                "The parts of an extrinsic's fee.",
            ),
        ),
        "The fee estimates of transaction payment.",
    ),
    RuntimeApi(
        "TaggedTransactionQueue",
        (
            ApiMethod(
                "validate_transaction",
                (("source", TRANSACTION_SOURCE), ("tx", OPAQUE_EXTRINSIC), ("block_hash", H256)),
                TRANSACTION_VALIDITY,
                "Validate the transaction against the state of block `block_hash`.",
            ),
        ),
        "The `TaggedTransactionQueue` api trait for interfering with the transaction queue.",
    ),
)
