"""The transaction pool against a small nonce model of the runtime's validation."""

import contextlib
import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.txpool import (
    AlreadyImported,
    InvalidTransaction,
    PoolFull,
    PoolLimits,
    TooLowPriority,
    TransactionPool,
    TxStatus,
)


class Stale(ValueError):
    pass


@dataclass
class Valid:
    priority: int
    requires: list
    provides: list
    longevity: int = 64
    propagate: bool = True


@dataclass
class Chain:
    """Account nonces on chain; a transaction is `sender|nonce|tip|pad` in these tests."""

    nonces: dict = field(default_factory=dict)

    def validate(self, raw: bytes) -> Valid:
        sender, nonce, tip, _ = raw.split(b"|")
        nonce, tip = int(nonce), int(tip)
        current = self.nonces.get(sender, 0)
        if nonce < current:
            raise Stale(f"nonce {nonce} is stale: the account's next nonce is {current}")
        requires = [sender + b"%d" % (nonce - 1)] if nonce > current else []
        return Valid(priority=tip, requires=requires, provides=[sender + b"%d" % nonce])


def tx(sender: bytes, nonce: int, tip: int = 0, pad: bytes = b"") -> bytes:
    return b"%s|%d|%d|%s" % (sender, nonce, tip, pad)


def make_pool(chain: Chain, **limits):
    events = []
    pool = TransactionPool(
        chain.validate,
        sender_of=lambda raw: raw.split(b"|")[0],
        limits=PoolLimits(**limits) if limits else PoolLimits(),
        on_status=lambda h, s, info: events.append((h, s)),
    )
    return pool, events


def test_ready_and_future_by_nonce():
    pool, _ = make_pool(Chain())
    pool.submit(tx(b"a", 1))
    assert pool.ready_count() == 0 and pool.future_count() == 1
    pool.submit(tx(b"a", 0))
    assert pool.ready_count() == 2
    assert [t.raw for t in pool.ready()] == [tx(b"a", 0), tx(b"a", 1)]


def test_priority_orders_independent_senders_but_respects_nonces():
    pool, _ = make_pool(Chain())
    pool.submit(tx(b"a", 0, tip=1))
    pool.submit(tx(b"a", 1, tip=100))
    pool.submit(tx(b"b", 0, tip=50))
    order = [t.raw for t in pool.ready()]
    assert order == [tx(b"b", 0, 50), tx(b"a", 0, 1), tx(b"a", 1, 100)]


def test_replacement_needs_higher_tip():
    pool, events = make_pool(Chain())
    first = pool.submit(tx(b"a", 0, tip=5))
    with pytest.raises(TooLowPriority):
        pool.submit(tx(b"a", 0, tip=5, pad=b"x"))
    pool.submit(tx(b"a", 0, tip=6))
    assert first not in pool and (first, TxStatus.USURPED) in events


def test_invalid_and_duplicate_rejected_with_reason():
    chain = Chain({b"a": 3})
    pool, _ = make_pool(chain)
    with pytest.raises(InvalidTransaction, match="stale"):
        pool.submit(tx(b"a", 1))
    pool.submit(tx(b"a", 3))
    with pytest.raises(AlreadyImported):
        pool.submit(tx(b"a", 3))


def test_block_inclusion_and_revalidation():
    chain = Chain()
    pool, events = make_pool(chain)
    included = [tx(b"a", 0), tx(b"a", 1)]
    for raw in included + [tx(b"a", 2), tx(b"b", 5)]:
        pool.submit(raw)
    chain.nonces[b"a"] = 2
    pool.on_block(included, b"H" * 32)
    assert len(pool) == 2 and pool.ready_count() == 1
    chain.nonces[b"a"] = 3  # nonce 2 was used by a transaction that came in another way
    pool.revalidate()
    assert len(pool) == 1
    assert sum(1 for _, s in events if s is TxStatus.FINALIZED) == 2
    assert sum(1 for _, s in events if s is TxStatus.INVALID) == 1


def test_bounds_evict_lowest_priority_future_first():
    pool, events = make_pool(Chain(), max_count=3, max_per_sender=10)
    pool.submit(tx(b"a", 0, tip=1))
    pool.submit(tx(b"b", 0, tip=2))
    low_future = pool.submit(tx(b"c", 7, tip=9))
    pool.submit(tx(b"d", 0, tip=3))
    assert low_future not in pool and len(pool) == 3
    with pytest.raises(PoolFull):
        pool.submit(tx(b"e", 0, tip=0))


def test_per_sender_bound():
    pool, _ = make_pool(Chain(), max_per_sender=2)
    pool.submit(tx(b"a", 0))
    pool.submit(tx(b"a", 1))
    with pytest.raises(PoolFull, match="sender"):
        pool.submit(tx(b"a", 2))


def test_byte_bound():
    pool, _ = make_pool(Chain(), max_bytes=100)
    pool.submit(tx(b"a", 0, 5, b"x" * 60))
    with pytest.raises(PoolFull):
        pool.submit(tx(b"b", 0, 1, b"y" * 60))
    assert pool.bytes_used <= 100


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from([b"a", b"b", b"c"]), st.integers(0, 6), st.integers(0, 3)), max_size=40
    )
)
def test_ready_iteration_is_nonce_ordered_and_within_bounds(ops):
    pool, _ = make_pool(Chain(), max_count=10, max_per_sender=4)
    for sender, nonce, tip in ops:
        try:
            pool.submit(tx(sender, nonce, tip))
        except (TooLowPriority, PoolFull, AlreadyImported):
            pass
        assert len(pool) <= 10
    seen: dict[bytes, int] = {}
    for t in pool.ready():
        sender, nonce, _, _ = t.raw.split(b"|")
        assert int(nonce) == seen.get(sender, 0), "a transaction came before one it requires"
        seen[sender] = int(nonce) + 1
    assert sum(seen.values()) == pool.ready_count()


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("submit"),
                st.sampled_from([b"a", b"b", b"c", b"d"]),
                st.integers(0, 5),
                st.integers(0, 4),
            ),
            st.tuples(
                st.just("block"), st.sampled_from([b"a", b"b", b"c", b"d"]), st.integers(0, 3), st.just(0)
            ),
        ),
        min_size=12,
        max_size=80,
    )
)
def test_eviction_takes_what_a_full_scan_would(ops):
    """The eviction heap picks exactly the transaction a scan of the whole pool picks: future before ready,
    then the lowest priority, then the newest; through readiness changes, replacements and blocks."""
    chain = Chain()
    pool, events = make_pool(chain, max_count=4, max_per_sender=4, full_revalidation_max=2)
    for op, sender, n, tip in ops:
        if op == "block":
            chain.nonces[sender] = chain.nonces.get(sender, 0) + n
            pool.on_block([], b"block")
            continue
        before = {t.hash: (t.ready, t.priority, -t.seq) for t in pool._txs.values()}
        expected = min(before, key=before.get) if len(before) == 4 else None
        del events[:]
        try:
            pool.submit(tx(sender, n, tip))
        except (TooLowPriority, PoolFull, AlreadyImported, InvalidTransaction):
            continue
        dropped = [h for h, s in events if s is TxStatus.DROPPED]
        usurped = [h for h, s in events if s is TxStatus.USURPED]
        if expected is not None and not usurped:
            assert dropped == [expected]
        assert len(pool) <= 4


def counting_pool(chain: Chain, **limits) -> tuple[TransactionPool, list[bytes]]:
    """A pool whose validations are recorded, in order."""
    checked: list[bytes] = []

    def counting_validate(raw):
        checked.append(raw)
        return chain.validate(raw)

    pool = TransactionPool(
        counting_validate, sender_of=lambda raw: raw.split(b"|")[0], limits=PoolLimits(**limits)
    )
    return pool, checked


def test_large_pool_revalidates_only_what_a_block_can_have_changed():
    chain = Chain()
    pool, checked = counting_pool(chain, full_revalidation_max=4, revalidation_slice=1, max_per_sender=100)
    for s in (b"a", b"b", b"c"):
        for n in range(3):
            pool.submit(tx(s, n))
    included = [tx(b"a", 0)]
    chain.nonces[b"a"] = 1
    checked.clear()
    pool.on_block(included, b"H" * 32)
    # a's next transaction (nonce 1) is rechecked; b and c's chains are untouched but for one rotating check.
    assert tx(b"a", 1) in checked and len(checked) <= 3
    assert len(pool) == 8 and pool.ready_count() == 8
    chain.nonces[b"b"] = 3  # b's transactions went in elsewhere: a full revalidation drops them
    pool.revalidate()
    assert len(pool) == 5


# --- future transactions: their own share, no cost per block ------------------------------------------------


def test_future_transactions_fill_only_their_share_and_never_push_a_ready_one_out():
    """A flood of far-future nonces from many senders stops at the future share (a tenth); it never evicts a
    ready transaction, and a ready newcomer still finds room by evicting futures."""
    pool, events = make_pool(Chain(), max_count=100, max_per_sender=256)
    assert pool.limits.max_future_count == 10
    ready = [pool.submit(tx(b"honest%d" % i, 0)) for i in range(85)]
    refused = 0
    for i in range(50):
        try:
            pool.submit(tx(b"flood%d" % i, 1000, tip=5))
        except PoolFull as e:
            assert "future queue is full" in str(e)
            refused += 1
    assert pool.future_count() == 10 and refused == 40
    assert all(h in pool for h in ready), "a future transaction pushed a ready one out"
    for i in range(15):  # the pool is full (95 + these): ready newcomers take the futures' room
        pool.submit(tx(b"late%d" % i, 0))
    assert pool.ready_count() == 100 and pool.future_count() == 0
    assert sum(1 for _, s in events if s is TxStatus.DROPPED) == 10


def test_a_better_future_transaction_displaces_only_a_worse_future_one():
    pool, events = make_pool(Chain(), max_count=20)  # a future share of 2
    pool.submit(tx(b"a", 5, tip=1))
    pool.submit(tx(b"b", 5, tip=2))
    with pytest.raises(PoolFull, match="future queue"):
        pool.submit(tx(b"c", 5, tip=1))
    better = pool.submit(tx(b"c", 5, tip=3))
    assert better in pool and pool.future_count() == 2
    assert [s for _, s in events].count(TxStatus.DROPPED) == 1


def test_parked_futures_cost_nothing_per_block():
    """The checks a block triggers are the same with 0 or 600 far-future transactions parked."""

    def checks_per_block(parked: int) -> int:
        chain = Chain()
        pool, checked = counting_pool(chain, max_count=8000, full_revalidation_max=16, revalidation_slice=4)
        for i in range(parked):
            pool.submit(tx(b"far%d" % i, 50))
        for s in range(10):
            for n in range(20):
                pool.submit(tx(b"s%d" % s, n))
        total = 0
        for height in range(5):
            block = [t.raw for t in itertools.islice(pool.ready(), 30)]
            for raw in block:
                sender, nonce, _, _ = raw.split(b"|")
                chain.nonces[sender] = int(nonce) + 1
            checked.clear()
            pool.on_block(block, b"%d" % height)
            total += len(checked)
        assert pool.future_count() == parked
        return total

    assert checks_per_block(600) == checks_per_block(0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("submit"), st.sampled_from([b"a", b"b", b"c"]), st.integers(0, 8), st.integers(0, 3)
            ),
            st.tuples(st.just("block"), st.integers(0, 6), st.just(b""), st.just(0)),
            st.tuples(
                st.just("elsewhere"), st.sampled_from([b"a", b"b", b"c"]), st.integers(1, 2), st.just(0)
            ),
        ),
        min_size=10,
        max_size=60,
    )
)
def test_incremental_maintenance_agrees_with_a_full_revalidation(ops):
    """After every block, the ready and future sets the pool keeps incrementally are those a revalidation of
    the whole pool computes: through inclusions, nonces used elsewhere, replacements and stale transactions."""
    chain = Chain()
    pool, _ = make_pool(chain, max_count=40, max_per_sender=20, full_revalidation_max=0, revalidation_slice=0)
    for op, a, b, tip in ops:
        if op == "submit":
            with contextlib.suppress(TooLowPriority, PoolFull, AlreadyImported, InvalidTransaction):
                pool.submit(tx(a, b, tip))
            continue
        if op == "block":
            block = [t.raw for t in itertools.islice(pool.ready(), a)]
        else:  # a nonce used by a transaction this pool never saw, included in someone else's block
            block = [tx(a, chain.nonces.get(a, 0) + i, tip=99, pad=b"elsewhere") for i in range(b)]
        for raw in block:
            sender, nonce, _, _ = raw.split(b"|")
            chain.nonces[sender] = int(nonce) + 1
        pool.on_block(block, b"B")
        incremental = {h: t.ready for h, t in pool._txs.items()}
        pool.revalidate()
        assert {h: t.ready for h, t in pool._txs.items()} == incremental
