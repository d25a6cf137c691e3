"""The node's view of its chain: storage, runtime execution, block building and import.

Every committed block is final (BFT), so the chain is a single line: the head is both best and finalized.
A block is executed once, on an overlay over the head state, either when this node builds it or when it
first checks a proposal; the result (`ExecutedBlock`: header, state update, events) is cached by block hash,
so committing a decided block only writes it. A block is committed together with its commit certificate
and its state in one LevelDB write batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chain.primitives import calls
from chain.primitives.codec import DecodeError, Reader
from chain.primitives.extrinsic import UncheckedExtrinsic
from chain.primitives.types import Block, Header
from chain.storage.blockstore import BlockStore
from chain.storage.overlay import Overlay
from chain.storage.state import StateUpdate
from runtime import validity as v
from runtime.executive import Executive, FinalizedBlock, Runtime
from runtime.pallets import session

log = logging.getLogger("gradchain.chain")

TIMESTAMP_CALL = calls.Timestamp.SET
MAX_FUTURE_DRIFT_MS = 30_000
EXECUTED_CACHE = 64


class BlockImportError(ValueError):
    """A block that cannot be imported, with the reason."""


@dataclass
class ExecutedBlock:
    block: Block
    finalized: FinalizedBlock
    update: StateUpdate
    outcomes: list[object]

    @property
    def hash(self) -> bytes:
        return self.block.header.hash


def timestamp_inherent(now_ms: int) -> bytes:
    return UncheckedExtrinsic(calls.Timestamp.set(now_ms)).encode()


def block_timestamp(block: Block) -> int | None:
    """The Timestamp.set argument of a block's first extrinsic, or None if it has none."""
    if not block.extrinsics:
        return None
    try:
        xt = UncheckedExtrinsic.decode(block.extrinsics[0])
        if xt.is_signed or xt.call[:2] != TIMESTAMP_CALL:
            return None
        r = Reader(xt.call[2:])
        value = r.compact()
        r.finish()
        return value
    except DecodeError:
        return None


class ChainState:
    def __init__(self, store: BlockStore, runtime: Runtime):
        self.store = store
        self.runtime = runtime
        head = store.best
        if head is None:
            raise BlockImportError("the database has no genesis block")
        self.head = Header.decode(store.header(head.hash))
        self._executed: dict[bytes, ExecutedBlock] = {}
        self._timestamp_cache: tuple[bytes, int] = (b"", 0)  # (block hash, its Timestamp.set), for the head
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

    # --- building -------------------------------------------------------------------------------------------

    def build_block(self, candidates: Iterable[bytes], author: bytes | None, now_ms: int | None = None,
                    on_reject: Callable[[bytes, Exception], None] = lambda raw, e: None,
                    max_extrinsics: int = 10_000, max_seconds: float | None = None,
                    inherents: Iterable[bytes] = ()) -> ExecutedBlock:
        """Build the next block: the timestamp inherent, the other `inherents` (equivocation reports) that
        the runtime accepts, then candidates in order while they fit.

        `max_seconds` bounds the time spent applying candidates: every validator re-executes the block before
        it votes, so a block that takes longer to run than the propose timeout allows is voted nil and its
        round is lost (a proposer-side limit; it does not change what a valid block is).
        """
        started = time.perf_counter()
        parent = self.head
        digest = (session.author_digest(self.store.state, parent.number + 1, author),) if author else ()
        overlay = Overlay(self.store.state)
        ex = Executive(self.runtime, overlay)
        ex.initialize_block(parent.hash, parent.number + 1, digest)
        parent_ts = self._timestamp_of(parent)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        outcomes = [ex.apply_extrinsic(timestamp_inherent(max(now, parent_ts + self._min_period())))]
        for raw in inherents:
            overlay.begin()
            try:
                outcomes.append(ex.apply_extrinsic(raw))
                overlay.commit()
            except v.TransactionValidityError as e:
                overlay.rollback()
                on_reject(raw, e)
        for raw in candidates:
            if len(ex.extrinsics) >= max_extrinsics:
                break
            if max_seconds is not None and time.perf_counter() - started > max_seconds:
                break
            overlay.begin()
            try:
                outcomes.append(ex.apply_extrinsic(raw))
                overlay.commit()
            except v.ExhaustsResources:
                overlay.rollback()
                break
            except v.TransactionValidityError as e:
                overlay.rollback()
                on_reject(raw, e)
        return self._finish(ex, outcomes)

    def _finish(self, ex: Executive, outcomes: list[object]) -> ExecutedBlock:
        updates: list[StateUpdate] = []

        def root(changes):
            updates.append(self.store.state.prepare(changes, ex.header_fields[1]))
            return updates[-1].root
        finalized = ex.finalize_block(root)
        block = Block(finalized.header, tuple(ex.extrinsics))
        executed = ExecutedBlock(block, finalized, updates[-1], outcomes)
        self._remember(executed)
        return executed

    def _remember(self, executed: ExecutedBlock) -> None:
        self._executed[executed.hash] = executed
        while len(self._executed) > EXECUTED_CACHE:
            self._executed.pop(next(iter(self._executed)))

    def _min_period(self) -> int:
        from runtime.pallets.timestamp import TimestampConfig
        return self.runtime.configs[TimestampConfig].minimum_period_ms

    def next_timestamp(self, now_ms: int) -> int:
        """The time the next block must claim if built at `now_ms`: no earlier than the head's plus the period."""
        return max(now_ms, self._timestamp_of(self.head) + self._min_period())

    def _timestamp_of(self, header: Header) -> int:
        if header.number == 0:
            return 0
        if self._timestamp_cache[0] == header.hash:
            return self._timestamp_cache[1]
        block = self.block(header.hash)
        timestamp = (block_timestamp(block) if block else 0) or 0
        self._timestamp_cache = (header.hash, timestamp)
        return timestamp

    # --- execution and import -------------------------------------------------------------------------------

    def execute(self, block: Block, check_clock: bool = False) -> ExecutedBlock:
        """Execute a block on top of the head, checking its roots; cached by hash."""
        cached = self._executed.get(block.header.hash)
        if cached is not None and cached.block == block:
            return cached
        header = block.header
        if header.parent_hash != self.head_hash or header.number != self.number + 1:
            raise BlockImportError(f"block #{header.number} (parent 0x{header.parent_hash.hex()[:16]}…) does not "
                                   f"extend the head #{self.number} 0x{self.head_hash.hex()[:16]}…")
        ts = block_timestamp(block)
        if ts is None:
            raise BlockImportError(f"block #{header.number} does not start with the timestamp inherent")
        if check_clock and ts > time.time() * 1000 + MAX_FUTURE_DRIFT_MS:
            raise BlockImportError(f"block #{header.number} claims time {ts} ms, more than "
                                   f"{MAX_FUTURE_DRIFT_MS} ms ahead of this node's clock")
        started = time.perf_counter()
        overlay = Overlay(self.store.state)
        ex = Executive(self.runtime, overlay)
        ex.initialize_block(header.parent_hash, header.number, header.digest)
        outcomes = []
        for i, raw in enumerate(block.extrinsics):
            try:
                outcomes.append(ex.apply_extrinsic(raw))
            except v.TransactionValidityError as e:
                raise BlockImportError(f"extrinsic {i} of block #{header.number} is invalid: "
                                       f"{type(e).__name__}: {e}") from None
        executed = self._finish(ex, outcomes)
        if executed.block.header != header:
            got = executed.block.header
            raise BlockImportError(
                f"block #{header.number} does not match its execution: state root 0x{header.state_root.hex()[:16]}… "
                f"vs 0x{got.state_root.hex()[:16]}…, extrinsics root 0x{header.extrinsics_root.hex()[:16]}… vs "
                f"0x{got.extrinsics_root.hex()[:16]}…")
        self.on_executed(time.perf_counter() - started)
        return executed

    def commit(self, executed: ExecutedBlock, justification: bytes) -> None:
        """Write the block, its certificate and its state in one atomic batch; it becomes the head."""
        block = executed.block
        header = block.header
        self.store.commit_block(header.hash, header.number, header.parent_hash, header.encode(),
                                block.encode_body(), justification, executed.update, finalized=True)
        self.head = header
        self._executed = {h: e for h, e in self._executed.items() if e.block.header.number > header.number}
