"""The state-transition pipeline: the one way blocks are built and imported (the node, tests, benchmarks).

`build_block` runs on the parent's state: `initialize_block`, the timestamp inherent (the caller's clock,
raised to the parent's time plus `MinimumPeriod`), the other inherents the runtime accepts (equivocation
reports, from `evidence`), then pool extrinsics in the order given while they fit, and `finalize_block`. Each extrinsic
is applied inside its own overlay layer, so one that fails leaves nothing behind. Like Substrate's basic
authorship, an extrinsic that would exhaust the block's weight or length is skipped, and building stops
after `BuildLimits.max_skipped_for_resources` of them (a smaller one later may still fit); the
proposer's own bounds (`max_extrinsics`, `max_seconds`) stop it too. The result carries the extrinsics
left out as invalid (the pool drops them) and the evidence refused; skipped ones stay in the pool.

`execute_block` re-executes a block received from a peer on its parent's state and checks it: it extends
`parent` (when given), claims no time past `latest_timestamp_ms` (the node's clock plus the drift it
tolerates; the runtime itself never reads a clock), every extrinsic applies (the first being the
timestamp inherent), and its header is exactly the computed one (state root, extrinsics root, digest). Anything
else is a `BlockImportError` naming what differed.

Both take a `state_root(changes)` function: the storage layer's (the node prepares the write batch
there and keeps it) or any other, so the pipeline never depends on how state is stored.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chain.primitives import calls
from chain.primitives.codec import DecodeError, Reader
from chain.primitives.extrinsic import UncheckedExtrinsic
from chain.primitives.types import Block, DigestItem, DigestKind, Header
from chain.storage.overlay import Backend, Overlay
from runtime import validity as v
from runtime.executive import ApplyOutcome, Executive, FinalizedBlock, Runtime, StateRootFn
from runtime.pallets import timestamp
from runtime.pallets.transaction_payment import AUTHOR_ENGINE_ID


class BlockImportError(ValueError):
    """A block that does not follow from its parent state by this runtime's rules, with the reason."""


@dataclass(frozen=True)
class BuildLimits:
    """A proposer's bounds on one block, besides the runtime's weight and length limits.

    `max_seconds` bounds the time spent applying pool extrinsics: every validator re-executes the block
    before it votes, so a block that takes longer to run than the propose timeout allows is voted nil and
    its round is lost (a proposer-side limit; it does not change what a valid block is)."""

    max_extrinsics: int = 10_000
    max_seconds: float | None = None
    max_skipped_for_resources: int = 8


@dataclass
class BuiltBlock:
    """A block and the result of executing it: header, state changes, events, one outcome per extrinsic."""

    block: Block
    finalized: FinalizedBlock
    outcomes: list[ApplyOutcome]
    rejected: list[tuple[bytes, v.TransactionValidityError]] = field(default_factory=list)  # pool extrinsics
    rejected_evidence: list[tuple[bytes, v.TransactionValidityError]] = field(default_factory=list)
    skipped: list[tuple[bytes, v.ExhaustsResources]] = field(
        default_factory=list
    )  # did not fit; kept in the pool

    @property
    def hash(self) -> bytes:
        return self.block.header.hash


def timestamp_inherent(now_ms: int) -> bytes:
    return UncheckedExtrinsic(calls.Timestamp.set(now_ms)).encode()


def equivocation_inherent(evidence: bytes) -> bytes:
    """The unsigned `Staking.report_equivocation(evidence)` the proposer puts after the timestamp inherent."""
    return UncheckedExtrinsic(calls.Staking.report_equivocation(evidence)).encode()


def author_digest(author: bytes) -> DigestItem:
    """The PreRuntime `gcbf` digest naming the block author outright, who receives the block's fees.

    A node's blocks name their author by an Aura slot instead (`session.author_digest`), which clients can
    read; the runtime accepts either (`session.block_author`)."""
    return DigestItem(DigestKind.PRE_RUNTIME, author, AUTHOR_ENGINE_ID)


def block_timestamp(block: Block) -> int | None:
    """The `Timestamp.set` argument of a block's first extrinsic, or None if it does not start with one."""
    if not block.extrinsics:
        return None
    try:
        xt = UncheckedExtrinsic.decode(block.extrinsics[0])
        if xt.is_signed or xt.call[:2] != calls.Timestamp.SET:
            return None
        r = Reader(xt.call[2:])
        value = r.compact()
        r.finish()
        return value
    except DecodeError:
        return None


def next_timestamp(runtime: Runtime, parent_state: Backend, now_ms: int) -> int:
    """The time a block built on `parent_state` at `now_ms` claims: no earlier than the parent's time plus
    the minimum period (the genesis state has no time, so block 1 claims `now_ms`)."""
    parent_ms = timestamp.now_in(parent_state)
    if not parent_ms:
        return now_ms
    return max(now_ms, parent_ms + runtime.configs[timestamp.TimestampConfig].minimum_period_ms)


def _apply_in_layer(ex: Executive, overlay: Overlay, raw: bytes) -> ApplyOutcome:
    """Apply one extrinsic in its own overlay layer: kept if it applies, gone without a trace if not."""
    overlay.begin()
    try:
        outcome = ex.apply_extrinsic(raw)
    except BaseException:
        overlay.rollback()
        raise
    overlay.commit()
    return outcome


def build_block(
    runtime: Runtime,
    parent_state: Backend,
    parent_hash: bytes,
    number: int,
    now_ms: int,
    pool: Iterable[bytes],
    state_root: StateRootFn,
    digest: Sequence[DigestItem] = (),
    evidence: Sequence[bytes] = (),
    limits: BuildLimits = BuildLimits(),
) -> BuiltBlock:
    """Build block `number` on `parent_state`, the state after block `parent_hash` (module docstring).
    Each of `evidence` (encoded equivocation evidence) becomes a `Staking.report_equivocation` inherent,
    or goes to `rejected_evidence` if the runtime refuses it."""
    started = time.perf_counter()
    overlay = Overlay(parent_state)
    ex = Executive(runtime, overlay)
    ex.initialize_block(parent_hash, number, digest)
    outcomes = [
        _apply_in_layer(ex, overlay, timestamp_inherent(next_timestamp(runtime, parent_state, now_ms)))
    ]
    rejected_evidence: list[tuple[bytes, v.TransactionValidityError]] = []
    for report in evidence:
        try:
            outcomes.append(_apply_in_layer(ex, overlay, equivocation_inherent(report)))
        except v.TransactionValidityError as e:
            rejected_evidence.append((report, e))
    rejected: list[tuple[bytes, v.TransactionValidityError]] = []
    skipped: list[tuple[bytes, v.ExhaustsResources]] = []
    for raw in pool:
        if len(ex.extrinsics) >= limits.max_extrinsics:
            break
        if limits.max_seconds is not None and time.perf_counter() - started > limits.max_seconds:
            break
        try:
            outcomes.append(_apply_in_layer(ex, overlay, raw))
        except v.ExhaustsResources as e:
            skipped.append((raw, e))
            if len(skipped) >= limits.max_skipped_for_resources:
                break
        except v.TransactionValidityError as e:
            rejected.append((raw, e))
    finalized = ex.finalize_block(state_root)
    return BuiltBlock(
        Block(finalized.header, tuple(ex.extrinsics)),
        finalized,
        outcomes,
        rejected,
        rejected_evidence,
        skipped,
    )


def execute_block(
    runtime: Runtime,
    parent_state: Backend,
    block: Block,
    state_root: StateRootFn,
    parent: Header | None = None,
    latest_timestamp_ms: int | None = None,
) -> BuiltBlock:
    """Re-execute `block` on `parent_state` (the state after its parent block) and check it (module
    docstring); raises `BlockImportError`."""
    h = block.header
    if parent is not None and (h.parent_hash != parent.hash or h.number != parent.number + 1):
        raise BlockImportError(
            f"block #{h.number} (parent 0x{h.parent_hash.hex()[:16]}…) does not extend "
            f"the head #{parent.number} 0x{parent.hash.hex()[:16]}…"
        )
    claimed = block_timestamp(block)  # None: the runtime refuses the block below (BadMandatory or Missing)
    if latest_timestamp_ms is not None and claimed is not None and claimed > latest_timestamp_ms:
        raise BlockImportError(
            f"block #{h.number} claims time {claimed} ms, {claimed - latest_timestamp_ms} ms "
            "past the latest this node accepts (its clock plus the tolerated drift)"
        )
    ex = Executive(runtime, Overlay(parent_state))
    try:
        ex.initialize_block(h.parent_hash, h.number, h.digest)
    except DecodeError as e:  # session.AuthorDigestError: the digests do not name one author
        raise BlockImportError(f"block #{h.number} has an invalid author digest: {e}") from e
    outcomes = []
    for i, raw in enumerate(block.extrinsics):
        try:
            outcomes.append(ex.apply_extrinsic(raw))
        except v.TransactionValidityError as e:
            raise BlockImportError(
                f"block #{h.number} extrinsic {i} cannot be applied: {type(e).__name__}: {e}"
            ) from e
    try:
        finalized = ex.finalize_block(state_root)
    except Exception as e:
        raise BlockImportError(f"block #{h.number} cannot be finalized: {type(e).__name__}: {e}") from e
    got = finalized.header
    if got.extrinsics_root != h.extrinsics_root:
        raise BlockImportError(
            f"block #{h.number}: extrinsics root 0x{h.extrinsics_root.hex()} in the header, "
            f"0x{got.extrinsics_root.hex()} computed"
        )
    if got.state_root != h.state_root:
        raise BlockImportError(
            f"block #{h.number}: state root 0x{h.state_root.hex()} in the header, "
            f"0x{got.state_root.hex()} computed"
        )
    if got != h:
        raise BlockImportError(f"block #{h.number}: its header differs from the one its execution gives")
    return BuiltBlock(block, finalized, outcomes)
