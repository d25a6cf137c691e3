"""System: accounts (nonce and balances), block number and hash history, events and block accounting.

`System.Account` holds Substrate's 80-byte AccountInfo so wallets read balances and nonces with the
metadata alone. An account exists while it has a provider (Balances provides one while the account holds
at least the existential deposit, or anything reserved); when it is reaped its entry, nonce included, is
removed, as in Substrate.

Events are collected in the block environment while the block runs and written to `System.Events` once, at
`finalize_block` (the storage value is empty at the start of each block, as Substrate's `initialize` kills
it). A failed call's events are dropped with its writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from chain.primitives.codec import encode_compact
from chain.primitives.hashing import blake2_256
from runtime.frame.pallet import (
    PHASE_INITIALIZATION,
    CallContext,
    Constant,
    Pallet,
    PalletConfig,
    PalletEvent,
    block_env,
    call,
    deposit_event,
    event,
    pallet_events,
)
from runtime.frame.storage import Blake2_128Concat, StorageMap, StorageValue, Twox64Concat, current_state
from runtime.frame.support import DISPATCH_ERROR, DISPATCH_INFO, WEIGHT, PalletError, Weight, pallet_errors
from runtime.frame.types import (
    H256,
    U8,
    U16,
    U32,
    U128,
    AccountId,
    Array,
    Bytes,
    Enum,
    Field,
    Group,
    Record,
    Struct,
    Variant,
    Vec,
)


@dataclass(frozen=True)
class SystemConfig(PalletConfig):
    block_hash_count: int = 2400
    max_block_weight: int = 2_000_000_000_000  # ref_time picoseconds: 2 s of execution
    max_block_length: int = 5 * 1024 * 1024
    normal_ratio_percent: int = 75  # share of weight and length normal extrinsics may use
    ss58_prefix: int = 42


# --- AccountInfo ------------------------------------------------------------------------------------------

_ACCOUNT_DATA = Group(
    "data", "pallet_balances::types::AccountData", "AccountData", params=(("Balance", U128),)
)


@dataclass(slots=True)
class AccountInfo:
    """`frame_system::AccountInfo<u32, pallet_balances::AccountData<u128>>`, mutable for in-place updates.

    The balance fields are flat here and nested as `data: AccountData` in the metadata; the bytes are the
    same (see `Group`). All fields are fixed-width, so `ACCOUNT_INFO` is one `struct` pack or unpack.
    """

    nonce: Annotated[int, U32, "Nonce"] = 0
    consumers: Annotated[int, U32, "RefCount"] = 0
    providers: Annotated[int, U32, "RefCount"] = 0
    sufficients: Annotated[int, U32, "RefCount"] = 0
    free: Annotated[int, U128, "Balance", _ACCOUNT_DATA] = 0
    reserved: Annotated[int, U128, "Balance", _ACCOUNT_DATA] = 0
    frozen: Annotated[int, U128, "Balance", _ACCOUNT_DATA] = 0
    flags: Annotated[int, U128, "ExtraFlags", _ACCOUNT_DATA] = 0


ACCOUNT_INFO = Record(
    "frame_system::AccountInfo", AccountInfo, params=(("Nonce", U32), ("AccountData", _ACCOUNT_DATA))
)

PER_CLASS_WEIGHT = Struct(
    "frame_support::dispatch::PerDispatchClass",
    [Field("normal", WEIGHT, "T"), Field("operational", WEIGHT, "T"), Field("mandatory", WEIGHT, "T")],
    params=[("T", WEIGHT)],
)

# --- storage --------------------------------------------------------------------------------------------

Account = StorageMap(
    "System",
    "Account",
    Blake2_128Concat,
    AccountId,
    ACCOUNT_INFO,
    default=AccountInfo(),
    docs="The full account information for a particular account ID.",
)
ExtrinsicCount = StorageValue(
    "System", "ExtrinsicCount", U32, docs="Total extrinsics count for the current block."
)
BlockWeight = StorageValue(
    "System",
    "BlockWeight",
    PER_CLASS_WEIGHT,
    default={"normal": Weight(0), "operational": Weight(0), "mandatory": Weight(0)},
    docs="The current weight for the block.",
)
AllExtrinsicsLen = StorageValue(
    "System", "AllExtrinsicsLen", U32, docs="Total length (in bytes) for all extrinsics."
)
BlockHash = StorageMap(
    "System",
    "BlockHash",
    Twox64Concat,
    U32,
    H256,
    default=bytes(32),
    docs="Map of block numbers to block hashes (the last BlockHashCount blocks).",
)
Number = StorageValue("System", "Number", U32, default=0, docs="The current block number being processed.")
_ENGINE = Array(U8, 4)
DIGEST_ITEM = Enum(
    "sp_runtime::generic::digest::DigestItem",
    [
        Variant("PreRuntime", 6, (Field(None, _ENGINE, "ConsensusEngineId"), Field(None, Bytes, "Vec<u8>"))),
        Variant("Consensus", 4, (Field(None, _ENGINE, "ConsensusEngineId"), Field(None, Bytes, "Vec<u8>"))),
        Variant("Seal", 5, (Field(None, _ENGINE, "ConsensusEngineId"), Field(None, Bytes, "Vec<u8>"))),
        Variant("Other", 0, (Field(None, Bytes, "Vec<u8>"),)),
        Variant("RuntimeEnvironmentUpdated", 8),
    ],
)
DIGEST = Struct("sp_runtime::generic::digest::Digest", [Field("logs", Vec(DIGEST_ITEM), "Vec<DigestItem>")])
Digest = StorageValue(
    "System",
    "Digest",
    DIGEST,
    default={"logs": []},
    docs="Digest of the current block, also part of the block header. (Declared so clients "
    "find the DigestItem type in the metadata; the node writes digests into headers.)",
)
ParentHash = StorageValue("System", "ParentHash", H256, default=bytes(32), docs="Hash of the previous block.")
EventCount = StorageValue("System", "EventCount", U32, default=0, docs="The number of events in `Events`.")
# `Events` is declared by the composition, whose RuntimeEvent type it needs (see `events_item`).


def events_item(event_record_vec) -> StorageValue:  # noqa: ANN001 - a Vec(EventRecord) descriptor
    return StorageValue(
        "System", "Events", event_record_vec, default=[], docs="Events deposited for the current block."
    )


EVENTS_KEY = StorageValue("System", "Events", Bytes).prefix

# --- events and errors ----------------------------------------------------------------------------------


@pallet_events("frame_system::pallet::Event")
class SystemEvent(PalletEvent):
    ExtrinsicSuccess = event(("dispatch_info", DISPATCH_INFO), doc="An extrinsic completed successfully.")
    ExtrinsicFailed = event(
        ("dispatch_error", DISPATCH_ERROR), ("dispatch_info", DISPATCH_INFO), doc="An extrinsic failed."
    )
    CodeUpdated = event(doc="`:code` was updated (never, on this chain).")
    NewAccount = event(("account", AccountId), doc="A new account was created.")
    KilledAccount = event(("account", AccountId), doc="An account was reaped.")
    Remarked = event(("sender", AccountId), ("hash", H256), doc="On on-chain remark happened.")


@pallet_errors("frame_system::pallet::Error")
class SystemError(PalletError):
    CallFiltered = "The origin filter prevents the call to be dispatched."


# --- calls ----------------------------------------------------------------------------------------------


@call(index=0, weight=Weight(1_000_000))
def remark(ctx: CallContext, remark: Bytes) -> None:
    """Make some on-chain remark; it is kept only in the block body."""
    ctx.ensure_signed()


@call(index=7, weight=Weight(5_000_000))
def remark_with_event(ctx: CallContext, remark: Bytes) -> None:
    """Make an on-chain remark and emit its hash, so off-chain watchers can find it."""
    sender = ctx.ensure_signed()
    ctx.deposit_event(SystemEvent.Remarked(sender, blake2_256(remark)))


# --- account lifecycle helpers used by Balances ---------------------------------------------------------


def account(who: bytes) -> AccountInfo:
    return Account.get(who)


def account_nonce(who: bytes) -> int:
    return Account.get(who).nonce


def inc_account_nonce(who: bytes) -> None:
    info = Account.get(who)
    info.nonce += 1
    Account.insert(who, info)


def on_created_account(who: bytes) -> None:
    deposit_event(SystemEvent.NewAccount(who))


def on_killed_account(who: bytes) -> None:
    deposit_event(SystemEvent.KilledAccount(who))


def block_number() -> int:
    return block_env().block_number


# --- block lifecycle, driven by the executive -----------------------------------------------------------


def initialize(number: int, parent_hash: bytes) -> None:
    """Start block `number`: record the parent's hash for era checks and reset per-block accounting."""
    cfg = SystemConfig.current()
    env = block_env()
    env.block_number = number
    env.set_phase(PHASE_INITIALIZATION)
    env.events.clear()
    env.extrinsic_count = env.extrinsics_len = 0
    env.weights = [Weight(0), Weight(0), Weight(0)]
    Number.put(number)
    ParentHash.put(parent_hash)
    BlockHash.insert(number - 1, parent_hash)
    if number - 1 > cfg.block_hash_count:
        BlockHash.remove(number - 1 - cfg.block_hash_count)
    ExtrinsicCount.kill()
    AllExtrinsicsLen.kill()
    BlockWeight.kill()
    current_state().delete(EVENTS_KEY)
    EventCount.kill()


def note_applied_extrinsic(length: int, weight: Weight, dispatch_class: int) -> None:
    """Account an applied extrinsic; kept in the block environment and written once at finalization."""
    env = block_env()
    env.extrinsic_count += 1
    env.extrinsics_len += length
    env.weights[dispatch_class] += weight


def finalize() -> None:
    """Write the block's accounting and its events (each record `phase ++ RuntimeEvent ++ topics`)."""
    env = block_env()
    ExtrinsicCount.put(env.extrinsic_count)
    AllExtrinsicsLen.put(env.extrinsics_len)
    normal, operational, mandatory = env.weights
    BlockWeight.put({"normal": normal, "operational": operational, "mandatory": mandatory})
    events = env.events
    body = b"".join(phase + ev.encode() + b"\x00" for phase, ev in events)
    current_state().set(EVENTS_KEY, encode_compact(len(events)) + body)
    EventCount.put(len(events))


def genesis(config: SystemConfig, spec: dict) -> None:
    """Genesis: block 0 is its own parent's successor; its hash is recorded at block 1."""
    Number.put(0)


PALLET = Pallet(
    name="System",
    calls_path="frame_system::pallet::Call",
    calls=(remark, remark_with_event),
    events=SystemEvent,
    errors=SystemError,
    storage=(
        Account,
        ExtrinsicCount,
        BlockWeight,
        AllExtrinsicsLen,
        BlockHash,
        Number,
        ParentHash,
        Digest,
        EventCount,
    ),
    config=SystemConfig,
    constants=(
        Constant(
            "BlockHashCount",
            U32,
            lambda c: c.block_hash_count,
            "Maximum number of block number to block hash mappings to keep.",
        ),
        Constant("SS58Prefix", U16, lambda c: c.ss58_prefix, "The designated SS58 prefix of this chain."),
    ),
    genesis=genesis,
)
