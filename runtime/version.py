"""The runtime version: what `state_getRuntimeVersion` returns and what signed payloads commit to.

`spec_version` and `transaction_version` are part of every signed payload (CheckSpecVersion,
CheckTxVersion), so a transaction signed for another version fails its signature check (BadProof).
API ids are Substrate's: the first 8 bytes of blake2b-64 over the runtime API trait name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from chain.primitives.codec import encode_compact, encode_str, u32
from runtime.frame.types import U8, U32, Array, Field, Str, Struct, Tuple, Vec


def api_id(trait_name: str) -> bytes:
    return hashlib.blake2b(trait_name.encode(), digest_size=8).digest()


@dataclass(frozen=True)
class RuntimeVersion:
    spec_name: str = "gradchain"
    impl_name: str = "gradchain-node"
    authoring_version: int = 1
    spec_version: int = 100
    impl_version: int = 1
    apis: tuple[tuple[bytes, int], ...] = tuple(
        (api_id(name), v)
        for name, v in (
            ("Core", 4),
            ("Metadata", 2),
            ("BlockBuilder", 6),
            ("TaggedTransactionQueue", 3),
            ("AccountNonceApi", 1),
            ("TransactionPaymentApi", 4),
        )
    )
    transaction_version: int = 1
    state_version: int = 1

    def encode(self) -> bytes:
        return (
            encode_str(self.spec_name)
            + encode_str(self.impl_name)
            + u32(self.authoring_version)
            + u32(self.spec_version)
            + u32(self.impl_version)
            + encode_compact(len(self.apis))
            + b"".join(i + u32(v) for i, v in self.apis)
            + u32(self.transaction_version)
            + bytes([self.state_version])
        )

    def as_dict(self) -> dict:
        """The value RUNTIME_VERSION_TYPE encodes."""
        return {
            "spec_name": self.spec_name,
            "impl_name": self.impl_name,
            "authoring_version": self.authoring_version,
            "spec_version": self.spec_version,
            "impl_version": self.impl_version,
            "apis": list(self.apis),
            "transaction_version": self.transaction_version,
            "state_version": self.state_version,
        }

    def to_json(self) -> dict:
        """As `state_getRuntimeVersion` returns it."""
        return {
            "specName": self.spec_name,
            "implName": self.impl_name,
            "authoringVersion": self.authoring_version,
            "specVersion": self.spec_version,
            "implVersion": self.impl_version,
            "apis": [["0x" + i.hex(), v] for i, v in self.apis],
            "transactionVersion": self.transaction_version,
            "stateVersion": self.state_version,
        }


# `sp_version::RuntimeVersion` as metadata describes it (System.Version, Core_version's output); it encodes
# a `RuntimeVersion.as_dict()` to the same bytes as `RuntimeVersion.encode()`.
RUNTIME_VERSION_TYPE = Struct(
    "sp_version::RuntimeVersion",
    [
        Field("spec_name", Str, "RuntimeString"),
        Field("impl_name", Str, "RuntimeString"),
        Field("authoring_version", U32, "u32"),
        Field("spec_version", U32, "u32"),
        Field("impl_version", U32, "u32"),
        Field("apis", Vec(Tuple(Array(U8, 8), U32)), "ApisVec"),
        Field("transaction_version", U32, "u32"),
        Field("state_version", U8, "u8"),
    ],
)

VERSION = RuntimeVersion()
