"""Overlay semantics: reads through, nested transactions, prefix iteration and clearing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.storage.overlay import MemoryBackend, Overlay, TransactionError

BASE = {b"a1": b"1", b"a2": b"2", b"a4": b"4", b"b1": b"x"}


def test_reads_fall_through_to_backend_and_writes_shadow_it():
    overlay = Overlay(MemoryBackend(BASE))
    assert overlay.get(b"a1") == b"1"
    overlay.set(b"a1", b"one")
    overlay.delete(b"a2")
    assert overlay.get(b"a1") == b"one"
    assert overlay.get(b"a2") is None
    assert not overlay.contains(b"a2") and b"a4" in overlay
    assert overlay.changes() == {b"a1": b"one", b"a2": None}


def test_rollback_undoes_only_the_innermost_transaction():
    overlay = Overlay(MemoryBackend(BASE))
    overlay.set(b"fee", b"paid")
    overlay.begin()
    overlay.set(b"a1", b"outer")
    overlay.begin()
    overlay.set(b"a1", b"inner")
    overlay.delete(b"a4")
    overlay.set(b"new", b"n")
    overlay.rollback()
    assert overlay.get(b"a1") == b"outer"
    assert overlay.get(b"a4") == b"4"
    assert overlay.get(b"new") is None
    overlay.commit()
    assert overlay.changes() == {b"fee": b"paid", b"a1": b"outer"}


def test_committed_inner_transaction_is_undone_by_outer_rollback():
    overlay = Overlay(MemoryBackend(BASE))
    overlay.set(b"a1", b"before")
    overlay.begin()
    overlay.begin()
    overlay.set(b"a1", b"inner")
    overlay.set(b"z", b"inner")
    overlay.commit()
    overlay.rollback()
    assert overlay.get(b"a1") == b"before"
    assert overlay.changes() == {b"a1": b"before"}


def test_transaction_context_manager_rolls_back_on_error():
    overlay = Overlay(MemoryBackend(BASE))
    with pytest.raises(KeyError):
        with overlay.transaction():
            overlay.set(b"a1", b"lost")
            raise KeyError("call failed")
    with overlay.transaction():
        overlay.set(b"a2", b"kept")
    assert overlay.changes() == {b"a2": b"kept"}


def test_invalid_transaction_use_raises():
    overlay = Overlay(MemoryBackend())
    with pytest.raises(TransactionError):
        overlay.commit()
    with pytest.raises(TransactionError):
        overlay.rollback()
    overlay.begin()
    with pytest.raises(TransactionError):
        overlay.changes()


def test_iter_prefix_merges_overlay_and_backend_hiding_deletions():
    overlay = Overlay(MemoryBackend(BASE))
    overlay.set(b"a3", b"3")
    overlay.set(b"a0", b"0")
    overlay.set(b"a2", b"two")
    overlay.delete(b"a4")
    overlay.set(b"a9", b"9")
    overlay.delete(b"a9")
    assert list(overlay.iter_prefix(b"a")) == [(b"a0", b"0"), (b"a1", b"1"), (b"a2", b"two"), (b"a3", b"3")]
    assert list(overlay.iter_prefix(b"b")) == [(b"b1", b"x")]


def test_overlay_stacks_on_overlay():
    block = Overlay(MemoryBackend(BASE))
    block.set(b"a3", b"3")
    block.delete(b"a1")
    proposal = Overlay(block)
    proposal.set(b"a5", b"5")
    proposal.delete(b"a3")
    assert list(proposal.iter_prefix(b"a")) == [(b"a2", b"2"), (b"a4", b"4"), (b"a5", b"5")]
    assert block.get(b"a5") is None
    assert proposal.changes() == {b"a5": b"5", b"a3": None}


def test_clear_prefix_with_limit_reports_whether_complete():
    overlay = Overlay(MemoryBackend(BASE))
    overlay.set(b"a5", b"5")
    first = overlay.clear_prefix(b"a", limit=2)
    assert first == (2, False)
    assert [k for k, _ in overlay.iter_prefix(b"a")] == [b"a4", b"a5"]
    assert overlay.clear_prefix(b"a", limit=2) == (2, True)
    assert overlay.clear_prefix(b"a") == (0, True)
    assert overlay.get(b"b1") == b"x"


ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from([b"a", b"b", b"c", b"d"]), st.binary(max_size=2)),
        st.tuples(st.just("delete"), st.sampled_from([b"a", b"b", b"c", b"d"]), st.none()),
        st.tuples(st.sampled_from(["begin", "commit", "rollback"]), st.none(), st.none()),
    ),
    max_size=40,
)


@settings(max_examples=500)
@given(ops)
def test_nested_transactions_match_a_stack_of_snapshots(program):
    base = {b"a": b"A", b"c": b"C"}
    overlay = Overlay(MemoryBackend(base))
    snapshots: list[dict] = []
    view = dict(base)
    for op, key, value in program:
        if op == "set":
            overlay.set(key, value)
            view[key] = value
        elif op == "delete":
            overlay.delete(key)
            view.pop(key, None)
        elif op == "begin":
            overlay.begin()
            snapshots.append(dict(view))
        elif snapshots:
            getattr(overlay, op)()
            snapshot = snapshots.pop()
            if op == "rollback":
                view = snapshot
        assert dict(overlay.iter_prefix(b"")) == view
    while snapshots:
        overlay.commit()
        snapshots.pop()
    backend = MemoryBackend(base)
    backend.apply(overlay.changes())
    assert backend.entries == view
