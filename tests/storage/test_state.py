"""StateDB on a real LevelDB: flat reads, historical views, proofs, pruning and archive mode."""

from __future__ import annotations

import random

import pytest

from chain.primitives.hashing import blake2_256
from chain.storage.kv import Column, Database
from chain.storage.overlay import Overlay
from chain.storage.proof import verify_proof
from chain.storage.state import (
    PruningModeMismatch,
    StaleStateUpdate,
    StateDB,
    StateUnavailable,
    parse_pruning,
)
from chain.storage.trie import EMPTY_ROOT, Trie, decode_node


def key(i: int) -> bytes:
    return b"\x26\xaa" * 8 + blake2_256(i.to_bytes(4, "little"))[:16] + i.to_bytes(4, "little")


def reference_root(entries: dict[bytes, bytes]) -> bytes:
    return Trie({}).apply(EMPTY_ROOT, entries).root


def run_chain(state: StateDB, blocks: int, seed: int = 1) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """Commit `blocks` random blocks; values come from a tiny set and keys recur, so identical trie
    nodes are retired and re-created again and again. Returns (root, entries) per block."""
    rng = random.Random(seed)
    entries: dict[bytes, bytes] = {}
    history = []
    for _ in range(blocks):
        changes: dict[bytes, bytes | None] = {}
        for _ in range(rng.randint(1, 12)):
            changes[key(rng.randrange(40))] = rng.choice([None, b"v0", b"v1", b"v2"])
        root = state.commit(changes)
        for k, v in changes.items():
            if v is None:
                entries.pop(k, None)
            else:
                entries[k] = v
        history.append((root, dict(entries)))
    return history


def reachable(db: Database, roots: list[bytes]) -> set[bytes]:
    seen: set[bytes] = set()
    stack = [r for r in roots if r != EMPTY_ROOT]
    while stack:
        node_hash = stack.pop()
        if node_hash in seen:
            continue
        seen.add(node_hash)
        node = decode_node(db.get(Column.TRIE, node_hash))
        if node[1] is not None:
            stack.extend(c for c in node[1] if c is not None)
    return seen


def test_flat_state_and_root_follow_commits(tmp_path):
    with Database(tmp_path / "db") as db:
        state = StateDB(db)
        history = run_chain(state, 10)
        root, entries = history[-1]
        assert state.root == root == reference_root(entries)
        assert dict(state.iter_prefix(b"")) == entries
        assert all(state.get(k) == v for k, v in entries.items())
    with Database(tmp_path / "db") as db:
        reopened = StateDB(db)
        assert (reopened.number, reopened.root) == (9, root)


def test_overlay_executes_on_state_head(tmp_path):
    with Database(tmp_path / "db") as db:
        state = StateDB(db)
        state.commit({key(1): b"a", key(2): b"b"})
        overlay = Overlay(state)
        overlay.set(key(3), b"c")
        overlay.delete(key(1))
        assert dict(overlay.iter_prefix(b"\x26")) == {key(2): b"b", key(3): b"c"}
        state.commit(overlay.changes())
        assert state.root == reference_root({key(2): b"b", key(3): b"c"})


def test_historical_view_reads_older_states_through_the_trie(tmp_path):
    with Database(tmp_path / "db") as db:
        state = StateDB(db, pruning="archive")
        history = run_chain(state, 12)
        for root, entries in history:
            view = state.at(root)
            assert dict(view.iter_prefix(b"")) == entries
            assert list(view.iter_prefix(key(5)[:3])) == sorted(
                (k, v) for k, v in entries.items() if k.startswith(key(5)[:3])
            )
            for k in (key(i) for i in range(40)):
                assert view.get(k) == entries.get(k)


def test_read_proof_verifies_against_the_state_root(tmp_path):
    with Database(tmp_path / "db") as db:
        state = StateDB(db)
        root, entries = run_chain(state, 5)[-1]
        keys = [key(i) for i in range(40)]
        proof = state.read_proof(keys)
        for k in keys:
            assert verify_proof(root, proof, k) == entries.get(k)


def test_pruning_keeps_exactly_the_nodes_of_states_in_the_window(tmp_path):
    window = 3
    with Database(tmp_path / "db") as db:
        state = StateDB(db, pruning=window)
        history = run_chain(state, 40)
        kept = [root for root, _ in history[-window - 1 :]]
        stored = {k for k, _ in db.iter_prefix(Column.TRIE)}
        assert stored == reachable(db, kept)
        for root, entries in history[-window - 1 :]:
            assert dict(state.at(root).iter_prefix(b"")) == entries
        live = set(kept)
        for root, _ in history[: -window - 1]:
            if root not in live:
                with pytest.raises(StateUnavailable):
                    state.at(root)
        counts = {k: int.from_bytes(v, "little") for k, v in db.iter_prefix(Column.REFCOUNT)}
        assert set(counts) == stored and min(counts.values()) >= 1


def test_pruning_survives_reopen_and_a_smaller_window(tmp_path):
    with Database(tmp_path / "db") as db:
        run_chain(StateDB(db, pruning=10), 20, seed=2)
    with Database(tmp_path / "db") as db:
        state = StateDB(db, pruning=2)
        history = run_chain(state, 5, seed=3)
        stored = {k for k, _ in db.iter_prefix(Column.TRIE)}
        assert stored == reachable(db, [state.root] + [r for r, _ in history[-3:]])


def test_archive_keeps_every_state(tmp_path):
    with Database(tmp_path / "db") as db:
        state = StateDB(db, pruning="archive")
        history = run_chain(state, 30)
        for root, entries in history:
            assert dict(state.at(root).iter_prefix(b"")) == entries
        assert next(db.iter_prefix(Column.REFCOUNT), None) is None


def test_invalid_reopen_in_other_pruning_mode(tmp_path):
    with Database(tmp_path / "db") as db:
        StateDB(db, pruning="archive").commit({b"k": b"v"})
    with Database(tmp_path / "db") as db, pytest.raises(PruningModeMismatch, match="archive"):
        StateDB(db, pruning=256)


def test_invalid_stale_update_is_refused(tmp_path):
    with Database(tmp_path / "db") as db:
        state = StateDB(db)
        first = state.prepare({b"k": b"1"})
        state.commit({b"k": b"2"})
        with pytest.raises(StaleStateUpdate):
            state.write(db.batch(), first)
        with pytest.raises(StaleStateUpdate):
            state.prepare({b"k": b"3"}, number=7)


@pytest.mark.parametrize("bad", [0, -1, "full", True])
def test_invalid_pruning_argument(bad):
    with pytest.raises(ValueError, match="pruning"):
        parse_pruning(bad)


def test_pruning_argument_parses_window_and_archive():
    assert parse_pruning("archive") is None
    assert parse_pruning("64") == 64
