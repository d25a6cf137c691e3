"""The node's view of its chain: a thin wrapper that keeps blocks and state in storage and runs the
runtime's pipeline (`runtime.block_builder`) on them.

Every committed block is final (BFT), so the chain is a single line: the head is both best and finalized.
A block is executed once, on the head state, either when this node builds it or when it first checks a
proposal; the result (`ExecutedBlock`: the pipeline's `BuiltBlock` and the prepared state update) is cached
by block hash, so committing a decided block only writes it. A block is committed together with its commit
certificate and its state in one LevelDB write batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from chain.primitives.codec import Reader
from chain.primitives.types import Block, Header
from chain.storage.blockstore import BlockStore
from chain.storage.overlay import Overlay
from chain.storage.state import StateUpdate
from runtime import block_builder
from runtime import validity as v
from runtime.block_builder import BlockImportError, BuildLimits, BuiltBlock
from runtime.executive import Executive, FinalizedBlock, Runtime, SignatureCheck, StateRootFn
from runtime.pallets import session

log = logging.getLogger("gradchain.chain")

MAX_FUTURE_DRIFT_MS = 30_000
EXECUTED_CACHE = 64

__all__ = ["MAX_FUTURE_DRIFT_MS", "BlockImportError", "ChainState", "ExecutedBlock"]


@dataclass
class ExecutedBlock:
    """A block the pipeline built or checked, with the write batch its state changes become."""

    built: BuiltBlock
    update: StateUpdate

    @property
    def block(self) -> Block:
        return self.built.block

    @property
    def finalized(self) -> FinalizedBlock:
        return self.built.finalized

    @property
    def outcomes(self) -> list[object]:
        return self.built.outcomes

    @property
    def hash(self) -> bytes:
        return self.built.hash


class ChainState:
    def __init__(self, store: BlockStore, runtime: Runtime):
        self.store = store
        self.runtime = runtime
        head = store.best
        if head is None:
            raise BlockImportError("the database has no genesis block")
        self.head = Header.decode(store.header(head.hash))
        self._executed: dict[bytes, ExecutedBlock] = {}
        self.on_executed: Callable[[float], None] = lambda seconds: None  # seconds a block took to execute

    # --- reads ----------------------------------------------------------------------------------------------

    @property
    def number(self) -> int:
        return self.head.number

    @property
    def head_hash(self) -> bytes:
        return self.head.hash

    def header_at(self, number: int) -> Header | None:
        h = self.store.hash_at(number)
        return None if h is None else self.header(h)

    def header(self, block_hash: bytes) -> Header | None:
        raw = self.store.header(block_hash)
        return None if raw is None else Header.decode(raw)

    def block(self, block_hash: bytes) -> Block | None:
        header = self.header(block_hash)
        body = self.store.body(block_hash)
        if header is None or body is None:
            return None
        r = Reader(body)
        return Block(header, Block.decode_body(r))

    def justification(self, block_hash: bytes) -> bytes | None:
        return self.store.justification(block_hash)

    def state_at(self, block_hash: bytes | None = None):
        """A read backend for the state after block `block_hash` (head by default)."""
        if block_hash is None or block_hash == self.head_hash:
            return self.store.state
        header = self.header(block_hash)
        if header is None:
            raise BlockImportError(f"unknown block 0x{block_hash.hex()}")
        return self.store.state.at(header.state_root)

    # --- transactions ---------------------------------------------------------------------------------------

    def validate_transaction(self, raw: bytes, source: v.TransactionSource = v.TransactionSource.EXTERNAL):
        ex = Executive(self.runtime, Overlay(self.store.state))
        return ex.validate_transaction(source, raw, self.head_hash)

    def signature_checks(self, raws: Sequence[bytes]) -> list[SignatureCheck]:
        """The signatures that `validate_transaction` would verify for `raws` on the head state."""
        return Executive(self.runtime, Overlay(self.store.state)).signature_checks(raws, self.head_hash)

    # --- building and execution: the runtime's pipeline on the head state ------------------------------------

    def _state_root(self, number: int, updates: list[StateUpdate]) -> StateRootFn:
        def root(changes) -> bytes:  # noqa: ANN001 - the overlay's change set
            updates.append(self.store.state.prepare(changes, number))
            return updates[-1].root

        return root

    def build_block(
        self,
        candidates: Iterable[bytes],
        author: bytes | None,
        now_ms: int | None = None,
        max_extrinsics: int = 10_000,
        max_seconds: float | None = None,
        evidence: Sequence[bytes] = (),
    ) -> ExecutedBlock:
        """Build the next block on the head (`block_builder.build_block`); its `rejected` and
        `rejected_evidence` say what the pool and the evidence pool should drop."""
        parent = self.head
        number = parent.number + 1
        digest = (session.author_digest(self.store.state, number, author),) if author else ()
        now = int(time.time() * 1000) if now_ms is None else now_ms
        updates: list[StateUpdate] = []
        built = block_builder.build_block(
            self.runtime,
            self.store.state,
            parent.hash,
            number,
            now,
            candidates,
            self._state_root(number, updates),
            digest,
            evidence,
            BuildLimits(max_extrinsics=max_extrinsics, max_seconds=max_seconds),
        )
        return self._remember(ExecutedBlock(built, updates[-1]))

    def next_timestamp(self, now_ms: int) -> int:
        """The time the next block must claim if built at `now_ms`: no earlier than the head's plus the period."""
        return block_builder.next_timestamp(self.runtime, self.store.state, now_ms)

    def execute(self, block: Block, check_clock: bool = False) -> ExecutedBlock:
        """Execute a block on top of the head and check it (`block_builder.execute_block`); cached by hash.
        With `check_clock`, a block dated more than MAX_FUTURE_DRIFT_MS past this node's clock is refused."""
        cached = self._executed.get(block.header.hash)
        if cached is not None and cached.block == block:
            return cached
        latest = int(time.time() * 1000) + MAX_FUTURE_DRIFT_MS if check_clock else None
        started = time.perf_counter()
        updates: list[StateUpdate] = []
        built = block_builder.execute_block(
            self.runtime,
            self.store.state,
            block,
            self._state_root(block.header.number, updates),
            parent=self.head,
            latest_timestamp_ms=latest,
        )
        self.on_executed(time.perf_counter() - started)
        return self._remember(ExecutedBlock(built, updates[-1]))

    def _remember(self, executed: ExecutedBlock) -> ExecutedBlock:
        self._executed[executed.hash] = executed
        while len(self._executed) > EXECUTED_CACHE:
            self._executed.pop(next(iter(self._executed)))
        return executed

    def commit(self, executed: ExecutedBlock, justification: bytes) -> None:
        """Write the block, its certificate and its state in one atomic batch; it becomes the head."""
        block = executed.block
        header = block.header
        self.store.commit_block(
            header.hash,
            header.number,
            header.parent_hash,
            header.encode(),
            block.encode_body(),
            justification,
            executed.update,
            finalized=True,
        )
        self.head = header
        self._executed = {h: e for h, e in self._executed.items() if e.block.header.number > header.number}
