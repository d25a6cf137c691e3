"""Staking: bonds, validator intents, epoch elections, and slashing for equivocation.

Stake is the stash account's own reserved balance (the stash is its own controller, as in current
Substrate). `unbond` moves stake into an unlocking chunk that `withdraw_unbonded` releases `BondingDuration`
epochs later; unlocking stake is still slashable.

Which validators sign which height (the rule consensus relies on): at the end of every block whose number
is a multiple of `EpochLength`, `on_finalize` elects the top `MaxValidators` candidates by active bond
(ties broken by stash) into `QueuedValidators`, with their session keys and the stakes as they were at the
election. At the start of the next boundary block (`on_initialize`, before any extrinsic) the queued set
becomes `ActiveValidators`. The set that signs height h+1 is the active set in the state after block h;
so a set elected at the end of epoch e signs epoch e+2, and every node knows the set of height h+2 from
the state after block h (`next_validator_set`) — which a BFT node needs, since it enters height h+2 the
moment it decides block h+1, before that block is written. Genesis elects the first set into both.
A validator slashed for equivocation is removed from the queued set at once, so it leaves the active set
at the next epoch boundary. `CurrentElected` lists the queued set's accounts as `Session.Validators` lists
the active set's (their consensus keys): it is what @polkadot/api's `derive.staking.validators` reads as
`nextElected` on a chain without Substrate's era storage (`ErasStakers`, `ErasStakersOverview`).

Era points: this chain's eras are its epochs. Each block's author (the consensus key its digest names) earns
`REWARD_POINTS_PER_BLOCK` points in `ErasRewardPoints` of the epoch the block belongs to, as Substrate's
authorship hook does; the last `HISTORY_DEPTH` epochs are kept. No reward is paid from them (fees already go
to the author); they are there for explorers, and @polkadot/api offers `api.derive.staking` only on a chain
that has them.

Slashing: `slash(stash, fraction)` burns `fraction` of the stash's bonded stake (active first, then
unlocking chunks); total issuance falls by the amount (no reporter reward). A validator slashed for
equivocation (`report_equivocation`, an unsigned inherent whose evidence check is a hook the node registers,
by default rejecting everything) is also chilled and excluded from the next election. Each offence is
punished once: the hook names the offence, and a second report of it is rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from chain.primitives.codec import Reader
from chain.primitives.hashing import twox128
from runtime.frame.pallet import (
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
from runtime.frame.storage import Blake2_128Concat, StorageMap, StorageValue, Twox64Concat
from runtime.frame.support import DispatchClass, PalletError, Pays, Weight, pallet_errors
from runtime.frame.types import (
    PERBILL,
    U8,
    U32,
    U128,
    AccountId,
    Array,
    Bool,
    Bytes,
    Compact,
    Field,
    Perbill,
    Record,
    Struct,
    Tuple,
    Unit,
    Vec,
)
from runtime.pallets import balances

SessionKey = Array(U8, 32)
REWARD_POINTS_PER_BLOCK = 20  # Substrate's, for each block authored
HISTORY_DEPTH = 84  # epochs of ErasRewardPoints kept (Substrate's default HistoryDepth)
EQUIVOCATION_HOOK = "verify_equivocation"


@dataclass(frozen=True)
class StakingConfig(PalletConfig):
    epoch_length: int = 100
    bonding_duration: int = 2  # epochs
    max_validators: int = 100
    min_validator_bond: int = 1_000_000_000_000
    slash_fraction: int = 100_000_000  # Perbill: 10%
    max_unlocking_chunks: int = 32


@dataclass
class UnlockChunk:
    value: Annotated[int, Compact(U128), "Balance"]
    era: Annotated[int, Compact(U32), "EraIndex"]  # the epoch from which it is withdrawable


UNLOCK_CHUNK = Record("pallet_staking::UnlockChunk", UnlockChunk)


@dataclass
class Ledger:
    stash: Annotated[bytes, AccountId, "T::AccountId"]
    total: Annotated[int, Compact(U128), "BalanceOf<T>"]
    active: Annotated[int, Compact(U128), "BalanceOf<T>"]
    unlocking: Annotated[list[UnlockChunk], Vec(UNLOCK_CHUNK), "Vec<UnlockChunk>"] = field(
        default_factory=list
    )


LEDGER = Record("pallet_staking::StakingLedger", Ledger)
PREFS = Struct(
    "pallet_staking::ValidatorPrefs",
    [Field("commission", Compact(U32), "Perbill"), Field("blocked", Bool, "bool")],
)
ACTIVE_SET = Vec(Tuple(AccountId, SessionKey, U128))
POINTS_BY_ACCOUNT = Struct(
    "BTreeMap", [Field(None, Vec(Tuple(AccountId, U32)))], params=[("K", AccountId), ("V", U32)]
)
ERA_REWARD_POINTS = Struct(
    "pallet_staking::EraRewardPoints",
    [
        Field("total", U32, "RewardPoint"),
        Field("individual", POINTS_BY_ACCOUNT, "BTreeMap<AccountId, RewardPoint>"),
    ],
)

Ledgers = StorageMap(
    "Staking", "Ledger", Blake2_128Concat, AccountId, LEDGER, docs="Bonded stake of each stash."
)
Validators = StorageMap(
    "Staking",
    "Validators",
    Blake2_128Concat,
    AccountId,
    PREFS,
    docs="Stashes that intend to validate, with their preferences.",
)
SessionKeys = StorageMap(
    "Staking",
    "SessionKeys",
    Blake2_128Concat,
    AccountId,
    SessionKey,
    docs="The Ed25519 consensus key each validator signs votes with.",
)
KeyOwner = StorageMap(
    "Staking", "KeyOwner", Blake2_128Concat, SessionKey, AccountId, docs="Session key -> stash."
)
CurrentEpoch = StorageValue("Staking", "CurrentEpoch", U32, default=0, docs="Index of the current epoch.")
ActiveValidators = StorageValue(
    "Staking",
    "ActiveValidators",
    ACTIVE_SET,
    default=[],
    docs="The elected set: (stash, session key, stake at election), by stake.",
)
QueuedValidators = StorageValue(
    "Staking",
    "QueuedValidators",
    ACTIVE_SET,
    default=[],
    docs="The set elected at the last boundary, active from the next one.",
)
CurrentElected = StorageValue(
    "Staking",
    "CurrentElected",
    Vec(AccountId),
    default=[],
    docs="The accounts (consensus keys) of the queued set, in its order: the validators "
    "of the next epoch, as Session.Validators lists the current one's.",
)
ErasRewardPoints = StorageMap(
    "Staking",
    "ErasRewardPoints",
    Twox64Concat,
    U32,
    ERA_REWARD_POINTS,
    default={"total": 0, "individual": []},
    docs="Points of each epoch: REWARD_POINTS_PER_BLOCK per block to its author's "
    "account, accounts in ascending order.",
)
PendingRemoval = StorageValue(
    "Staking",
    "PendingRemoval",
    Vec(AccountId),
    default=[],
    docs="Validators slashed for equivocation, removed at the next election.",
)
ReportedOffences = StorageMap(
    "Staking",
    "ReportedOffences",
    Blake2_128Concat,
    Bytes,
    Unit,
    docs="Offences already punished, so each is slashed once.",
)


@pallet_events("pallet_staking::pallet::Event")
class StakingEvent(PalletEvent):
    Bonded = event(("stash", AccountId), ("amount", U128), doc="An account has bonded this amount.")
    Unbonded = event(("stash", AccountId), ("amount", U128), doc="An account has unbonded this amount.")
    Withdrawn = event(
        ("stash", AccountId), ("amount", U128), doc="Unlocked stake was released to free balance."
    )
    ValidatorPrefsSet = event(
        ("stash", AccountId),
        ("commission", Perbill),
        ("session_key", SessionKey),
        doc="A validator has set its preferences and session key.",
    )
    Chilled = event(("stash", AccountId), doc="An account has stopped participating as a validator.")
    Slashed = event(
        ("staker", AccountId), ("amount", U128), doc="A staker has been slashed; the amount is burned."
    )
    StakersElected = event(
        ("epoch", U32), ("count", U32), doc="A new validator set was elected for the next epoch."
    )
    OffenceReported = event(
        ("offender", AccountId),
        ("session_key", SessionKey),
        doc="Equivocation evidence was accepted against a validator.",
    )


@pallet_errors("pallet_staking::pallet::Error")
class StakingError(PalletError):
    NotStash = "Not a stash account (nothing bonded)."
    AlreadyBonded = "Stash is already bonded."
    InsufficientBond = "Cannot bond or unbond to leave less than the minimum bond."
    NoMoreChunks = "Too many unlocking chunks; withdraw first."
    NoUnlockChunk = "Nothing is ready to withdraw."
    DuplicateSessionKey = "Another validator already uses this session key."
    InvalidEvidence = "The equivocation evidence was rejected."
    DuplicateOffenceReport = "This offence has already been reported and punished."
    CommissionTooHigh = "Commission is above 100%."


def _ledger(stash: bytes) -> Ledger:
    ledger = Ledgers.get(stash)
    if ledger is None:
        raise StakingError.NotStash("this account has nothing bonded")
    return ledger


@call(index=0, weight=Weight(40_000_000))
def bond(ctx: CallContext, value: Compact(U128)) -> None:
    """Reserve `value` of the caller's free balance as stake."""
    stash = ctx.ensure_signed()
    if Ledgers.contains(stash):
        raise StakingError.AlreadyBonded("use bond_extra to add stake")
    if value == 0:
        raise StakingError.InsufficientBond("cannot bond nothing")
    balances.reserve(stash, value)
    Ledgers.insert(stash, Ledger(stash, value, value, []))
    ctx.deposit_event(StakingEvent.Bonded(stash, value))


@call(index=1, weight=Weight(40_000_000))
def bond_extra(ctx: CallContext, max_additional: Compact(U128)) -> None:
    """Add to the caller's stake, at most its free balance."""
    stash = ctx.ensure_signed()
    ledger = _ledger(stash)
    extra = min(max_additional, balances.free_balance(stash))
    balances.reserve(stash, extra)
    ledger.total += extra
    ledger.active += extra
    Ledgers.insert(stash, ledger)
    ctx.deposit_event(StakingEvent.Bonded(stash, extra))


@call(index=2, weight=Weight(40_000_000))
def unbond(ctx: CallContext, value: Compact(U128)) -> None:
    """Start unlocking up to `value` of active stake; it is withdrawable after BondingDuration epochs."""
    stash = ctx.ensure_signed()
    ledger = _ledger(stash)
    cfg = StakingConfig.current()
    if len(ledger.unlocking) >= cfg.max_unlocking_chunks:
        raise StakingError.NoMoreChunks(
            f"{len(ledger.unlocking)} chunks are unlocking; the limit is {cfg.max_unlocking_chunks}"
        )
    value = min(value, ledger.active)
    if Validators.contains(stash) and 0 < ledger.active - value < cfg.min_validator_bond:
        raise StakingError.InsufficientBond(
            f"a validator keeps at least {cfg.min_validator_bond} bonded; chill or unbond everything"
        )
    ledger.active -= value
    ledger.unlocking.append(UnlockChunk(value, CurrentEpoch.get() + cfg.bonding_duration))
    Ledgers.insert(stash, ledger)
    ctx.deposit_event(StakingEvent.Unbonded(stash, value))


@call(index=3, weight=Weight(40_000_000))
def withdraw_unbonded(ctx: CallContext) -> None:
    """Release every unlocking chunk whose epoch has come; a fully unbonded stash is removed."""
    stash = ctx.ensure_signed()
    ledger = _ledger(stash)
    epoch = CurrentEpoch.get()
    ready = sum(c.value for c in ledger.unlocking if c.era <= epoch)
    if ready == 0 and ledger.total != 0:
        raise StakingError.NoUnlockChunk(f"no chunk unlocks by epoch {epoch}")
    ledger.unlocking = [c for c in ledger.unlocking if c.era > epoch]
    ledger.total -= ready
    balances.unreserve(stash, ready)
    if ledger.total == 0:
        Ledgers.remove(stash)
        _chill(stash)
    else:
        Ledgers.insert(stash, ledger)
    ctx.deposit_event(StakingEvent.Withdrawn(stash, ready))


@call(index=4, weight=Weight(50_000_000))
def validate(ctx: CallContext, session_key: SessionKey, commission: Perbill) -> None:
    """Declare the intent to validate with `session_key` from the next election on."""
    stash = ctx.ensure_signed()
    ledger = _ledger(stash)
    cfg = StakingConfig.current()
    if ledger.active < cfg.min_validator_bond:
        raise StakingError.InsufficientBond(
            f"active bond {ledger.active} is below the validator minimum {cfg.min_validator_bond}"
        )
    if commission > PERBILL:
        raise StakingError.CommissionTooHigh(f"commission {commission} exceeds {PERBILL} (100%)")
    owner = KeyOwner.get(session_key)
    if owner is not None and owner != stash:
        raise StakingError.DuplicateSessionKey(
            f"session key 0x{session_key.hex()} belongs to another validator"
        )
    old_key = SessionKeys.get(stash)
    if old_key is not None and old_key != session_key:
        KeyOwner.remove(old_key)
    SessionKeys.insert(stash, session_key)
    KeyOwner.insert(session_key, stash)
    Validators.insert(stash, {"commission": commission, "blocked": False})
    ctx.deposit_event(StakingEvent.ValidatorPrefsSet(stash, commission, session_key))


def _chill(stash: bytes) -> None:
    if Validators.contains(stash):
        Validators.remove(stash)
        deposit_event(StakingEvent.Chilled(stash))


@call(index=5, weight=Weight(30_000_000))
def chill(ctx: CallContext) -> None:
    """Stop being a validator candidate from the next election."""
    stash = ctx.ensure_signed()
    _ledger(stash)
    _chill(stash)


@call(index=6, weight=Weight(100_000_000), dispatch_class=DispatchClass.OPERATIONAL, pays=Pays.NO)
def report_equivocation(ctx: CallContext, evidence: Bytes) -> None:
    """Unsigned: punish the validator the evidence proves signed two conflicting votes."""
    ctx.ensure_none()
    offender_key, offence_id = check_equivocation(evidence)
    stash = KeyOwner.get(offender_key)
    if stash is None:
        raise StakingError.InvalidEvidence(f"session key 0x{offender_key.hex()} belongs to no validator")
    ReportedOffences.insert(offence_id, ())
    deposit_event(StakingEvent.OffenceReported(stash, offender_key))
    slash(stash, StakingConfig.current().slash_fraction)
    pending = PendingRemoval.get()
    if stash not in pending:
        PendingRemoval.put([*pending, stash])
    queued = QueuedValidators.get()
    remaining = [member for member in queued if member[0] != stash]
    if remaining and len(remaining) != len(queued):
        _queue(remaining)


EquivocationHook = Callable[[bytes], tuple[bytes, bytes]]


def check_equivocation(evidence: bytes) -> tuple[bytes, bytes]:
    """Run the node's evidence hook: (offender session key, offence id), or raise InvalidEvidence.

    The offence id names the slot (offender, height, round, vote type), not the pair of votes, so every pair
    from one slot is the same offence and only the first report of it is punished.
    """
    hook: EquivocationHook | None = block_env().hooks.get(EQUIVOCATION_HOOK)
    if hook is None:
        raise StakingError.InvalidEvidence("no equivocation verifier is registered; all evidence is rejected")
    try:
        offender_key, offence_id = hook(evidence)
    except ValueError as e:
        raise StakingError.InvalidEvidence(f"evidence rejected: {e}") from None
    if ReportedOffences.contains(offence_id):
        raise StakingError.DuplicateOffenceReport(f"offence 0x{offence_id.hex()} was already punished")
    return offender_key, offence_id


def slash(stash: bytes, fraction: int) -> int:
    """Burn `fraction` (Perbill) of `stash`'s bonded stake; returns the amount burned."""
    ledger = Ledgers.get(stash)
    if ledger is None:
        return 0
    amount = ledger.total * fraction // PERBILL
    remaining = amount
    take = min(remaining, ledger.active)
    ledger.active -= take
    remaining -= take
    for chunk in ledger.unlocking:
        take = min(remaining, chunk.value)
        chunk.value -= take
        remaining -= take
    ledger.unlocking = [c for c in ledger.unlocking if c.value]
    burned = balances.slash_reserved(stash, amount - remaining)
    ledger.total -= burned
    Ledgers.insert(stash, ledger)
    deposit_event(StakingEvent.Slashed(stash, burned))
    return burned


def elect() -> list[tuple[bytes, bytes, int]]:
    """Top MaxValidators candidates by active bond (ties: lower stash first), with their session keys."""
    cfg = StakingConfig.current()
    for stash in PendingRemoval.get():
        _chill(stash)
    PendingRemoval.kill()
    candidates = []
    for stash, _prefs in Validators.iter():
        ledger = Ledgers.get(stash)
        key = SessionKeys.get(stash)
        if ledger is not None and key is not None and ledger.active >= cfg.min_validator_bond:
            candidates.append((stash, key, ledger.active))
    candidates.sort(key=lambda c: (-c[2], c[0]))
    return candidates[: cfg.max_validators]


def _queue(elected: list[tuple[bytes, bytes, int]]) -> None:
    QueuedValidators.put(elected)
    CurrentElected.put([key for _stash, key, _stake in elected])


def _note_author(author: bytes) -> None:
    epoch = CurrentEpoch.get()
    points = ErasRewardPoints.get(epoch)
    individual = dict(points["individual"])
    individual[author] = individual.get(author, 0) + REWARD_POINTS_PER_BLOCK
    ErasRewardPoints.insert(
        epoch, {"total": points["total"] + REWARD_POINTS_PER_BLOCK, "individual": sorted(individual.items())}
    )


def on_initialize(number: int) -> None:
    author = block_env().author
    if author is not None:
        _note_author(author)
    if number == 0 or number % StakingConfig.current().epoch_length:
        return
    queued = QueuedValidators.get()
    if queued:
        ActiveValidators.put(queued)


def on_finalize(number: int) -> None:
    if number % StakingConfig.current().epoch_length:
        return
    epoch = CurrentEpoch.get() + 1
    CurrentEpoch.put(epoch)
    if epoch >= HISTORY_DEPTH:
        ErasRewardPoints.remove(epoch - HISTORY_DEPTH)
    elected = elect()
    if elected:  # consensus cannot run with no validators: keep the old set rather than halt
        _queue(elected)
    deposit_event(StakingEvent.StakersElected(epoch, len(elected)))


ACTIVE_VALIDATORS_KEY = twox128(b"Staking") + twox128(b"ActiveValidators")
QUEUED_VALIDATORS_KEY = twox128(b"Staking") + twox128(b"QueuedValidators")


def validator_set(state) -> list[tuple[bytes, int]]:  # noqa: ANN001 - any object with get(key)
    """The set that signs the height after the block whose state this is: [(session key, stake)]."""
    raw = state.get(ACTIVE_VALIDATORS_KEY)
    if raw is None:
        return []
    return [(key, stake) for _stash, key, stake in ACTIVE_SET.decode(Reader(raw))]


def next_validator_set(state, number: int, epoch_length: int) -> list[tuple[bytes, int]]:  # noqa: ANN001
    """The set that signs height `number + 2`, read from the state after block `number`."""
    if (number + 1) % epoch_length:
        return validator_set(state)
    raw = state.get(QUEUED_VALIDATORS_KEY)
    if not raw:
        return validator_set(state)
    return [(key, stake) for _stash, key, stake in ACTIVE_SET.decode(Reader(raw))]


def genesis(config: StakingConfig, spec: dict) -> None:
    """`stakers: [[stash, session_key, bond]]`: bond, declare intent, and elect the first set."""
    for stash, session_key, value in spec.get("stakers", []):
        balances.reserve(stash, value)
        Ledgers.insert(stash, Ledger(stash, value, value, []))
        SessionKeys.insert(stash, session_key)
        KeyOwner.insert(session_key, stash)
        Validators.insert(stash, {"commission": 0, "blocked": False})
    elected = elect()
    ActiveValidators.put(elected)
    _queue(elected)


PALLET = Pallet(
    name="Staking",
    calls_path="pallet_staking::pallet::pallet::Call",
    calls=(bond, bond_extra, unbond, withdraw_unbonded, validate, chill, report_equivocation),
    events=StakingEvent,
    errors=StakingError,
    storage=(
        Ledgers,
        Validators,
        SessionKeys,
        KeyOwner,
        CurrentEpoch,
        ActiveValidators,
        QueuedValidators,
        CurrentElected,
        ErasRewardPoints,
        PendingRemoval,
        ReportedOffences,
    ),
    config=StakingConfig,
    constants=(
        Constant(
            "EpochLength", U32, lambda c: c.epoch_length, "Blocks per epoch; elections happen at its end."
        ),
        Constant("BondingDuration", U32, lambda c: c.bonding_duration, "Epochs unbonded stake stays locked."),
        Constant("MaxValidators", U32, lambda c: c.max_validators, "Size of the elected validator set."),
        Constant(
            "SlashFraction", Perbill, lambda c: c.slash_fraction, "Share of stake burned per equivocation."
        ),
        Constant("HistoryDepth", U32, lambda c: HISTORY_DEPTH, "Epochs of ErasRewardPoints kept."),
    ),
    on_initialize=on_initialize,
    on_finalize=on_finalize,
    genesis=genesis,
    inherent_calls=frozenset({"report_equivocation"}),
)
