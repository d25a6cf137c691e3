"""The transaction pool: validated extrinsics waiting for a block, in ready and future queues.

Dependencies follow Substrate's tag model: the runtime's `validate_transaction` says which tags a transaction
`requires` and `provides` (for signed transfers: (account, nonce - 1) and (account, nonce)). A transaction
whose requirements are all provided by ready transactions, or need nothing, is ready; otherwise it waits in
the future queue. Blocks take ready transactions best-priority first, never before what they depend on.
A transaction that provides a tag already provided by another replaces it only with a higher priority (a
higher tip).

Limits. The pool is bounded in count per sender, in total count and in total bytes. Future transactions
have their own share of both (a tenth by default, as Substrate gives them): a future transaction can only
displace a worse future one, never a ready one, and a ready newcomer displaces future ones first. A flood
of far-future nonces therefore fills at most its share and never pushes out, or slows, what can go in now.

Per-block cost. After a block the pool drops what it included and revalidates only what the block can have
changed: the transactions that were chained behind an included one, the first pooled transaction of every
sender that signed in the block (the only way a sender's nonce moves, and the usual way its balance falls),
every unsigned one, and a rotating slice of the rest, oldest check first. Indexes are updated for those
alone, so a block costs the same whether the pool waits on ten futures or ten thousand. A small pool is
revalidated whole. The pool is advisory: block building and import check every extrinsic again, and the
builder reports what it rejected (`remove_invalid`), so a verdict that went stale between revalidations
costs at most one skipped candidate, never a wrong block.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from chain.primitives.hashing import blake2_256


class Validity(Protocol):
    priority: int
    requires: list[bytes]
    provides: list[bytes]
    longevity: int
    propagate: bool


class PoolError(ValueError):
    """A transaction the pool will not take. `code` follows the JSON-RPC error the author API reports."""

    code = 1010


class AlreadyImported(PoolError):
    code = 1013


class TooLowPriority(PoolError):
    code = 1014


class PoolFull(PoolError):
    code = 1016


class InvalidTransaction(PoolError):
    """The runtime rejected the transaction; `reason` is its typed error."""

    def __init__(self, reason: Exception):
        super().__init__(str(reason))
        self.reason = reason


def describe(error: Exception) -> str:
    """`Reason: facts` for a pool rejection, naming the runtime's own reason when it has one."""
    if isinstance(error, InvalidTransaction):
        error = error.reason
    return f"{type(error).__name__}: {error}"


class TxStatus(Enum):
    READY = "ready"
    FUTURE = "future"
    IN_BLOCK = "inBlock"
    FINALIZED = "finalized"
    INVALID = "invalid"
    DROPPED = "dropped"
    USURPED = "usurped"


@dataclass
class PoolTransaction:
    raw: bytes
    hash: bytes
    validity: Validity
    sender: bytes | None
    seq: int
    ready: bool = False

    @property
    def priority(self) -> int:
        return self.validity.priority


@dataclass(frozen=True)
class PoolLimits:
    max_count: int = 8192
    max_bytes: int = 20 * 1024 * 1024
    max_per_sender: int = 256
    future_share: float = 0.1  # of max_count and max_bytes, for transactions waiting on an earlier nonce
    full_revalidation_max: int = 64  # pools up to this size are revalidated whole after each block
    revalidation_slice: int = 64  # besides what a block touched, this many checked longest ago

    @property
    def max_future_count(self) -> int:
        return max(1, int(self.max_count * self.future_share))

    @property
    def max_future_bytes(self) -> int:
        return max(1, int(self.max_bytes * self.future_share))


@dataclass
class TransactionPool:
    """Validation is delegated to `validate(raw) -> Validity`, which raises the runtime's typed errors."""

    validate: Callable[[bytes], Validity]
    sender_of: Callable[[bytes], bytes | None] = lambda raw: None
    limits: PoolLimits = field(default_factory=PoolLimits)
    on_status: Callable[[bytes, TxStatus, object], None] = lambda h, s, info: None

    def __post_init__(self) -> None:
        self._txs: dict[bytes, PoolTransaction] = {}
        self._ready: dict[bytes, PoolTransaction] = {}
        self._provided: dict[bytes, bytes] = {}  # tag -> hash of the transaction that provides it
        self._bytes = 0
        self._ready_bytes = 0
        self._by_sender: dict[bytes, set[bytes]] = {}  # sender -> hashes of its pooled transactions
        self._unsigned: set[bytes] = set()
        self._seq = itertools.count()
        self._ready_tags: set[bytes] = set()
        self._requirers: dict[bytes, set[bytes]] = {}  # tag -> hashes of transactions that require it
        # Ready transactions -> when each was last validated or became ready (a counter), oldest first: the
        # rotating revalidation slice. Future ones are not in it; they are checked when their sender moves.
        self._checked: dict[bytes, int] = {}
        self._checks = itertools.count()
        # Eviction candidates, worst first: (ready, priority, -seq, hash), so future ones come before every
        # ready one. Entries go stale when a transaction leaves or changes readiness or priority; stale ones
        # are skipped when met and the heap is rebuilt when they outnumber the live ones, so eviction costs
        # O(log n) amortized instead of a scan.
        self._evict_heap: list[tuple[bool, int, int, bytes]] = []

    # --- queries -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._txs

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def ready_count(self) -> int:
        return len(self._ready)

    def future_count(self) -> int:
        return len(self._txs) - len(self._ready)

    def future_bytes(self) -> int:
        return self._bytes - self._ready_bytes

    def pending(self) -> list[bytes]:
        return [t.raw for t in sorted(self._txs.values(), key=lambda t: t.seq)]

    def get(self, tx_hash: bytes) -> PoolTransaction | None:
        return self._txs.get(tx_hash)

    def provides(self, tag: bytes) -> bool:
        """Whether a pooled transaction provides `tag` (the node uses it for `system_accountNextIndex`)."""
        return tag in self._provided

    # --- submission ------------------------------------------------------------------------------------------

    def submit(self, raw: bytes) -> bytes:
        """Validate and add a transaction; returns its hash or raises a PoolError naming the reason."""
        tx_hash = blake2_256(raw)
        if tx_hash in self._txs:
            raise AlreadyImported(f"transaction 0x{tx_hash.hex()} is already in the pool")
        try:
            validity = self.validate(raw)
        except PoolError:
            raise
        except ValueError as e:  # the runtime's typed rejections are ValueError subclasses
            raise InvalidTransaction(e) from None
        tx = PoolTransaction(raw, tx_hash, validity, self.sender_of(raw), next(self._seq))
        self._insert(tx)
        return tx_hash

    def _set_ready(self, tx: PoolTransaction, ready: bool) -> None:
        if tx.ready != ready:
            tx.ready = ready
            if ready:
                self._ready[tx.hash] = tx
                self._ready_bytes += len(tx.raw)
                self._checked[tx.hash] = next(self._checks)
            else:
                del self._ready[tx.hash]
                self._ready_bytes -= len(tx.raw)
                self._checked.pop(tx.hash, None)
            self._push_candidate(tx)

    def _push_candidate(self, tx: PoolTransaction) -> None:
        heapq.heappush(self._evict_heap, (tx.ready, tx.priority, -tx.seq, tx.hash))
        if len(self._evict_heap) > 2 * len(self._txs) + 64:
            self._rebuild_candidates()

    def _rebuild_candidates(self) -> None:
        self._evict_heap = [(t.ready, t.priority, -t.seq, t.hash) for t in self._txs.values()]
        heapq.heapify(self._evict_heap)

    def _worst(self, exclude: set[bytes]) -> PoolTransaction | None:
        """The transaction eviction takes first (future before ready, then lowest priority, then newest)."""
        heap, held, worst = self._evict_heap, [], None
        while heap:
            ready, priority, _, tx_hash = heap[0]
            tx = self._txs.get(tx_hash)
            if tx is None or tx.ready != ready or tx.priority != priority:
                heapq.heappop(heap)  # stale
            elif tx_hash in exclude:
                held.append(heapq.heappop(heap))
            else:
                worst = tx
                break
        for entry in held:
            heapq.heappush(heap, entry)
        return worst

    def _insert(self, tx: PoolTransaction) -> None:
        usurped = [self._provided[t] for t in tx.validity.provides if t in self._provided]
        for old_hash in usurped:
            if self._txs[old_hash].priority >= tx.priority:
                raise TooLowPriority(
                    f"a transaction with the same nonce and priority {self._txs[old_hash].priority} is already "
                    f"pooled; a replacement needs a higher priority than {tx.priority} (raise the tip)"
                )
        if (
            tx.sender is not None
            and not usurped
            and len(self._by_sender.get(tx.sender, ())) >= self.limits.max_per_sender
        ):
            raise PoolFull(
                f"the sender already has {self.limits.max_per_sender} transactions pooled; wait for some to be "
                "included before sending more"
            )
        ready = all(r in self._ready_tags for r in tx.validity.requires)
        exclude = set(usurped)
        if not ready:
            self._fit_future(tx, exclude)
        self._make_room(tx, ready, exclude)
        for old_hash in usurped:
            self._remove(old_hash, TxStatus.USURPED, tx.hash)
        self._txs[tx.hash] = tx
        self._bytes += len(tx.raw)
        if tx.sender is not None:
            self._by_sender.setdefault(tx.sender, set()).add(tx.hash)
        else:
            self._unsigned.add(tx.hash)
        for tag in tx.validity.provides:
            self._provided[tag] = tx.hash
        self._index(tx)
        self._push_candidate(tx)
        self.on_status(tx.hash, TxStatus.READY if tx.ready else TxStatus.FUTURE, None)

    def _fit_future(
        self, newcomer: PoolTransaction | None = None, exclude: set[bytes] | frozenset[bytes] = frozenset()
    ) -> None:
        """Evict the worst future transactions until the future share holds what it has, less `exclude` (about
        to leave), plus `newcomer`. For a newcomer only a worse future transaction goes, else PoolFull;
        without one (transactions demoted when what they waited on left) the worst go until it fits."""
        limits = self.limits
        leaving = [self._txs[h] for h in exclude if not self._txs[h].ready]
        count = len(leaving) - (newcomer is not None)
        size = sum(len(t.raw) for t in leaving) - (len(newcomer.raw) if newcomer is not None else 0)
        while (
            self.future_count() - count > limits.max_future_count
            or self.future_bytes() - size > limits.max_future_bytes
        ):
            worst = self._worst(exclude)
            if newcomer is None and (worst is None or worst.ready):
                return
            if worst is None or worst.ready or worst.priority >= newcomer.priority:
                raise PoolFull(
                    f"the future queue is full ({self.future_count()} transactions waiting for an earlier nonce, "
                    f"at most {limits.max_future_count} and {limits.max_future_bytes} bytes) and priority "
                    f"{newcomer.priority} is not above the lowest of them; send the missing nonces first"
                )
            self._remove(worst.hash, TxStatus.DROPPED, "evicted: the future queue is full")

    def _make_room(self, tx: PoolTransaction, ready: bool, exclude: set[bytes]) -> None:
        while (
            len(self._txs) - len(exclude) + 1 > self.limits.max_count
            or self._bytes + len(tx.raw) > self.limits.max_bytes
        ):
            worst = self._worst(exclude)
            if worst is None:
                raise PoolFull("the pool cannot hold a transaction this large")
            if worst.ready and (not ready or worst.priority >= tx.priority):
                raise PoolFull(
                    f"the pool is full ({len(self._txs)} transactions, {self._bytes} bytes) "
                    f"and priority {tx.priority} is not above the lowest pooled"
                )
            self._remove(worst.hash, TxStatus.DROPPED, "evicted: the pool is full")

    def _remove(self, tx_hash: bytes, status: TxStatus, info: object = None, demote: bool = True) -> None:
        """Take a transaction out. `demote=False` leaves the transactions that required it ready (the block
        that included it provides their requirement now; the caller revalidates them)."""
        tx = self._txs.pop(tx_hash, None)
        if tx is None:
            return
        self._bytes -= len(tx.raw)
        if tx.sender is not None:
            mine = self._by_sender[tx.sender]
            mine.discard(tx_hash)
            if not mine:
                del self._by_sender[tx.sender]
        else:
            self._unsigned.discard(tx_hash)
        for tag in tx.validity.provides:
            if self._provided.get(tag) == tx_hash:
                del self._provided[tag]
        self._unindex(tx, demote)
        self.on_status(tx_hash, status, info)

    def _promote(self, tx: PoolTransaction) -> None:
        """Mark `tx` ready and, in turn, every waiting transaction whose requirements are now all provided."""
        stack = [tx]
        while stack:
            t = stack.pop()
            if t.ready:
                continue
            self._set_ready(t, True)
            self._ready_tags.update(t.validity.provides)
            for tag in t.validity.provides:
                for h in self._requirers.get(tag, ()):
                    dep = self._txs.get(h)
                    if (
                        dep is not None
                        and not dep.ready
                        and all(r in self._ready_tags for r in dep.validity.requires)
                    ):
                        stack.append(dep)

    def _demote_dependents(self, tags: list[bytes]) -> None:
        stack = list(tags)
        while stack:
            tag = stack.pop()
            self._ready_tags.discard(tag)
            for h in self._requirers.get(tag, ()):
                dep = self._txs.get(h)
                if dep is not None and dep.ready:
                    self._set_ready(dep, False)
                    stack.extend(dep.validity.provides)

    def _index(self, tx: PoolTransaction) -> None:
        for tag in tx.validity.requires:
            self._requirers.setdefault(tag, set()).add(tx.hash)
        if all(r in self._ready_tags for r in tx.validity.requires):
            self._promote(tx)

    def _forget_requirements(self, tx: PoolTransaction) -> None:
        for tag in tx.validity.requires:
            waiting = self._requirers.get(tag)
            if waiting is not None:
                waiting.discard(tx.hash)
                if not waiting:
                    del self._requirers[tag]

    def _unindex(self, tx: PoolTransaction, demote: bool = True) -> None:
        self._forget_requirements(tx)
        if tx.ready:
            self._set_ready(tx, False)
            if demote:
                self._demote_dependents(list(tx.validity.provides))
            else:
                self._ready_tags.difference_update(tx.validity.provides)

    # --- block building and maintenance ---------------------------------------------------------------------

    def ready(self) -> Iterator[PoolTransaction]:
        """Ready transactions, highest priority first, each after the transactions it requires."""
        waiting: dict[bytes, list[PoolTransaction]] = {}
        heap: list[tuple[int, int, bytes]] = []
        for tx in self._ready.values():
            missing = [t for t in tx.validity.requires if t in self._provided]
            if missing:
                waiting.setdefault(missing[0], []).append(tx)
            else:
                heap.append((-tx.priority, tx.seq, tx.hash))
        heapq.heapify(heap)
        # Each signed transaction requires at most one tag (its predecessor nonce), so one missing tag suffices.
        while heap:
            _, _, tx_hash = heapq.heappop(heap)
            tx = self._txs.get(tx_hash)
            if tx is None:
                continue
            yield tx
            for tag in tx.validity.provides:
                for nxt in waiting.pop(tag, []):
                    heapq.heappush(heap, (-nxt.priority, nxt.seq, nxt.hash))

    def remove_invalid(self, tx_hash: bytes, reason: object) -> None:
        self._remove(tx_hash, TxStatus.INVALID, reason)
        self._fit_future()

    def on_block(self, included: list[bytes], block_hash: bytes) -> None:
        """Drop what a finalized block included, then revalidate what the new state may have changed."""
        senders: set[bytes] = set()
        for raw in included:
            tx_hash = blake2_256(raw)
            tx = self._txs.get(tx_hash)
            sender = tx.sender if tx is not None else self.sender_of(raw)
            if sender is not None:
                senders.add(sender)
            if tx is not None:
                self._remove(tx_hash, TxStatus.FINALIZED, block_hash, demote=False)
        if len(self._txs) <= self.limits.full_revalidation_max:
            self.revalidate()
            return
        heads = {h for sender in senders for h in self._first_of(sender)}
        picked = set(itertools.islice(self._checked, self.limits.revalidation_slice))
        todo = [self._txs[h] for h in heads | picked | self._unsigned if h in self._txs]
        heapq.heapify(heap := [(t.seq, t.hash) for t in todo])
        done: set[bytes] = set()
        while heap:
            _, tx_hash = heapq.heappop(heap)
            tx = self._txs.get(tx_hash)
            if tx is None or tx_hash in done:
                continue
            done.add(tx_hash)
            for h in self._recheck(tx):  # what waited on a transaction that changed or left: check it too
                dep = self._txs.get(h)
                if dep is not None and h not in done:
                    heapq.heappush(heap, (dep.seq, h))
        self._fit_future()

    def _first_of(self, sender: bytes) -> list[bytes]:
        """The sender's pooled transactions that require nothing another pooled transaction provides."""
        return [
            h
            for h in self._by_sender.get(sender, ())
            if not any(r in self._provided for r in self._txs[h].validity.requires)
        ]

    def _recheck(self, tx: PoolTransaction) -> set[bytes]:
        """Validate one pooled transaction again and update the indexes for it alone; returns the transactions
        that required it, when it left the pool or changed what it provides."""
        requirers = {h for tag in tx.validity.provides for h in self._requirers.get(tag, ())}
        try:
            validity = self.validate(tx.raw)
        except ValueError as e:
            self._remove(tx.hash, TxStatus.INVALID, e)
            return requirers
        if self._checked.pop(tx.hash, None) is not None:
            self._checked[tx.hash] = next(self._checks)
        old = tx.validity
        if (old.priority, old.requires, old.provides) == (
            validity.priority,
            validity.requires,
            validity.provides,
        ):
            tx.validity = validity
            if not tx.ready and all(r in self._ready_tags for r in validity.requires):
                self._promote(tx)
            return set()
        if (
            tx.ready
            and (old.priority, old.provides) == (validity.priority, validity.provides)
            and all(r in self._ready_tags for r in validity.requires)
        ):  # the usual change after a block: the predecessor it required is on chain now
            self._move_requirements(tx, validity)
            return set()
        for tag in old.provides:
            if self._provided.get(tag) == tx.hash:
                del self._provided[tag]
        self._unindex(tx)
        tx.validity = validity
        for tag in validity.provides:
            self._provided.setdefault(tag, tx.hash)
        self._index(tx)
        self._push_candidate(tx)
        return requirers if old.provides != validity.provides else set()

    def _move_requirements(self, tx: PoolTransaction, validity: Validity) -> None:
        self._forget_requirements(tx)
        tx.validity = validity
        for tag in validity.requires:
            self._requirers.setdefault(tag, set()).add(tx.hash)

    def revalidate(self) -> None:
        """Check every pooled transaction against the current state again and rebuild the indexes."""
        for tx in sorted(self._txs.values(), key=lambda t: t.seq):
            try:
                tx.validity = self.validate(tx.raw)
            except ValueError as e:
                self._remove(tx.hash, TxStatus.INVALID, e)
                continue
        self._provided, self._ready_tags, self._requirers = {}, set(), {}
        self._ready, self._ready_bytes, self._checked = {}, 0, {}
        for tx in self._txs.values():
            tx.ready = False
            for tag in tx.validity.provides:
                self._provided.setdefault(tag, tx.hash)
        for tx in sorted(self._txs.values(), key=lambda t: t.seq):
            self._index(tx)
        self._rebuild_candidates()
        self._fit_future()
