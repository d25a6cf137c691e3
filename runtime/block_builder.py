"""Building blocks from the pool and importing blocks from peers.

`build_block` applies the timestamp inherent, any equivocation reports, then pool extrinsics in the order
given until the block's weight or length limit is reached, and returns the block together with the
extrinsics it had to leave out and why (the pool drops the invalid ones and keeps the `Future` ones).

`execute_block` re-executes an imported block on its parent state and checks that the result matches the
header: same state root and extrinsics root. Any mismatch or inapplicable extrinsic is a `BlockImportError`
naming what differed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chain.primitives.codec import encode_compact
from chain.primitives.extrinsic import UncheckedExtrinsic
from chain.primitives.types import Block, DigestItem, DigestKind
from chain.storage.overlay import Backend, Overlay
from runtime import validity as v
from runtime.composition import BY_NAME
from runtime.executive import Executive, FinalizedBlock, Runtime, StateRootFn
from runtime.pallets import staking
from runtime.pallets.transaction_payment import AUTHOR_ENGINE_ID

MAX_SKIPPED_FOR_RESOURCES = 8


class BlockImportError(Exception):
    """An imported block does not follow from its parent state by this runtime's rules."""


@dataclass(frozen=True)
class BuiltBlock:
    block: Block
    finalized: FinalizedBlock
    rejected: list[tuple[bytes, v.TransactionValidityError]]


def timestamp_inherent(now_ms: int) -> bytes:
    call = bytes([BY_NAME["Timestamp"].index, 0]) + encode_compact(now_ms)
    return UncheckedExtrinsic(call).encode()


def equivocation_inherent(evidence: bytes) -> bytes:
    """The unsigned `Staking.report_equivocation(evidence)` the proposer puts after the timestamp inherent."""
    call = bytes([BY_NAME["Staking"].index, staking.report_equivocation.index]) + encode_compact(len(evidence)) \
        + evidence
    return UncheckedExtrinsic(call).encode()


def author_digest(author: bytes) -> DigestItem:
    """The PreRuntime `gcbf` digest naming the block author outright, who receives the block's fees.

    A node's blocks name their author by an Aura slot instead (`session.author_digest`), which clients can
    read; the runtime accepts either (`session.block_author`)."""
    return DigestItem(DigestKind.PRE_RUNTIME, author, AUTHOR_ENGINE_ID)


def build_block(runtime: Runtime, parent: Backend, parent_hash: bytes, number: int, now_ms: int,
                pool: Iterable[bytes], state_root: StateRootFn, digest: Sequence[DigestItem] = (),
                evidence: Sequence[bytes] = ()) -> BuiltBlock:
    ex = Executive(runtime, Overlay(parent))
    ex.initialize_block(parent_hash, number, digest)
    ex.apply_extrinsic(timestamp_inherent(now_ms))
    rejected: list[tuple[bytes, v.TransactionValidityError]] = []
    for report in evidence:
        try:
            ex.apply_extrinsic(equivocation_inherent(report))
        except v.TransactionValidityError as e:
            rejected.append((report, e))
    skipped = 0
    for raw in pool:
        try:
            ex.apply_extrinsic(raw)
        except v.ExhaustsResources as e:
            rejected.append((raw, e))
            skipped += 1
            if skipped >= MAX_SKIPPED_FOR_RESOURCES:
                break
        except v.TransactionValidityError as e:
            rejected.append((raw, e))
    finalized = ex.finalize_block(state_root)
    return BuiltBlock(Block(finalized.header, tuple(ex.extrinsics)), finalized, rejected)


def execute_block(runtime: Runtime, parent: Backend, block: Block, state_root: StateRootFn) -> FinalizedBlock:
    """Re-execute `block` on `parent` (the state after its parent block) and check its header."""
    h = block.header
    ex = Executive(runtime, Overlay(parent))
    ex.initialize_block(h.parent_hash, h.number, h.digest)
    for i, raw in enumerate(block.extrinsics):
        try:
            ex.apply_extrinsic(raw)
        except v.TransactionValidityError as e:
            raise BlockImportError(f"block {h.number} extrinsic {i} cannot be applied: "
                                   f"{type(e).__name__}: {e}") from e
    try:
        finalized = ex.finalize_block(state_root)
    except Exception as e:
        raise BlockImportError(f"block {h.number} cannot be finalized: {type(e).__name__}: {e}") from e
    if finalized.header.extrinsics_root != h.extrinsics_root:
        raise BlockImportError(f"block {h.number}: extrinsics root 0x{h.extrinsics_root.hex()} in the header, "
                               f"0x{finalized.header.extrinsics_root.hex()} computed")
    if finalized.header.state_root != h.state_root:
        raise BlockImportError(f"block {h.number}: state root 0x{h.state_root.hex()} in the header, "
                               f"0x{finalized.header.state_root.hex()} computed")
    return finalized
