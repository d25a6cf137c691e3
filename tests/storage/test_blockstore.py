"""The block store on a real LevelDB: round trips, chain markers, locking, and crash atomicity."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chain.primitives.hashing import blake2_256
from chain.storage.blockstore import BlockStore, NotNextBlock, StateMismatch, WrongChain
from chain.storage.kv import Database, DatabaseError, DatabaseLocked
from chain.storage.trie import EMPTY_ROOT, Trie
from tests.storage import crash_writer

ROOT_DIR = Path(__file__).resolve().parents[2]
GENESIS = crash_writer.GENESIS


def commit(store: BlockStore, number: int, justification: bytes | None = b"cert") -> None:
    parent = bytes(32) if number == 0 else crash_writer.block_hash(number - 1)
    update = store.state.prepare(crash_writer.changes(number), number)
    store.commit_block(
        crash_writer.block_hash(number),
        number,
        parent,
        crash_writer.header(number),
        crash_writer.body(number),
        justification,
        update,
    )


def test_block_round_trip_survives_reopen(tmp_path):
    with BlockStore.open(tmp_path / "db", GENESIS, chain_id="dev") as store:
        for number in range(4):
            commit(store, number, justification=b"cert %d" % number)
        root = store.state.root
    with BlockStore.open(tmp_path / "db", GENESIS, chain_id="dev") as store:
        h2 = crash_writer.block_hash(2)
        assert store.header(h2) == crash_writer.header(2)
        assert store.body(h2) == crash_writer.body(2)
        assert store.justification(h2) == b"cert 2"
        assert store.hash_at(2) == h2 and store.hash_at(4) is None
        info = store.info(h2)
        assert (info.number, info.parent_hash) == (2, crash_writer.block_hash(1))
        assert (store.best.number, store.best.hash) == (3, crash_writer.block_hash(3))
        assert store.finalized == store.best
        assert store.info(store.best.hash).state_root == root == store.state.root
        assert dict(store.state.iter_prefix(b"")) == crash_writer.state_at(3)
        assert dict(store.state.at(info.state_root).iter_prefix(b"")) == crash_writer.state_at(2)
        store.set_justification(h2, b"better cert")
        assert store.justification(h2) == b"better cert"


def test_invalid_open_with_other_genesis(tmp_path):
    with BlockStore.open(tmp_path / "db", GENESIS, chain_id="dev") as store:
        commit(store, 0)
    with pytest.raises(WrongChain, match=GENESIS.hex()):
        BlockStore.open(tmp_path / "db", blake2_256(b"another chain"))
    with pytest.raises(WrongChain, match="'dev'"):
        BlockStore.open(tmp_path / "db", GENESIS, chain_id="local")
    with BlockStore.open(tmp_path / "db", GENESIS, chain_id="dev") as store:
        assert store.best.number == 0


def test_invalid_commits_are_refused_and_write_nothing(tmp_path):
    with BlockStore.open(tmp_path / "db", GENESIS) as store:
        with pytest.raises(NotNextBlock):
            store.commit_block(
                crash_writer.block_hash(1), 1, GENESIS, b"h", b"b", None, store.state.prepare({})
            )
        with pytest.raises(WrongChain):
            store.commit_block(blake2_256(b"x"), 0, bytes(32), b"h", b"b", None, store.state.prepare({}, 0))
        commit(store, 0)
        update = store.state.prepare(crash_writer.changes(1), 1)
        with pytest.raises(NotNextBlock):
            store.commit_block(crash_writer.block_hash(1), 1, blake2_256(b"fork"), b"h", b"b", None, update)
        with pytest.raises(StateMismatch):
            store.commit_block(
                crash_writer.block_hash(1),
                1,
                GENESIS,
                b"h",
                b"b",
                None,
                dataclasses.replace(update, number=2),
            )
        assert store.best.number == 0 and store.hash_at(1) is None


def test_invalid_second_open_reports_lock(tmp_path):
    with Database(tmp_path / "db"):
        with pytest.raises(DatabaseLocked, match="another node"):
            Database(tmp_path / "db")


def test_invalid_open_of_missing_or_corrupt_database(tmp_path):
    with pytest.raises(DatabaseError, match=str(tmp_path / "missing")):
        Database(tmp_path / "missing", create=False)
    with Database(tmp_path / "db") as db:
        batch = db.batch()
        batch.put(b"s", b"k", b"v")
        db.write(batch)
    for name in os.listdir(tmp_path / "db"):
        if name.startswith("MANIFEST"):
            (tmp_path / "db" / name).write_bytes(b"garbage" * 10)
    with pytest.raises(DatabaseError, match=str(tmp_path / "db")):
        Database(tmp_path / "db")


def test_crash_at_any_instant_leaves_previous_or_new_block(tmp_path):
    """kill -9 a writer mid-stream, repeatedly; every reopen finds one whole block and its whole state."""
    path = tmp_path / "db"
    rng = random.Random(5)
    env = dict(os.environ, PYTHONPATH=str(ROOT_DIR))
    last_durable = -1
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.storage.crash_writer", str(path)],
            cwd=ROOT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        first = child.stdout.readline()  # wait until it is committing, then kill at a random moment
        assert first, "crash writer exited before committing"
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        printed, _ = child.communicate()
        child.wait()
        numbers = [int(first)] + [int(line) for line in printed.split()]
        last_durable = max(last_durable, numbers[-1])
        with BlockStore.open(path, GENESIS, chain_id="crash-test", pruning=8) as store:
            best = store.best
            assert best.number >= last_durable, "a commit that returned was lost"
            assert best.hash == crash_writer.block_hash(best.number) == store.hash_at(best.number)
            assert store.hash_at(best.number + 1) is None
            assert store.header(best.hash) == crash_writer.header(best.number)
            assert store.justification(best.hash) == b"cert %d" % best.number
            entries = crash_writer.state_at(best.number)
            assert dict(store.state.iter_prefix(b"")) == entries
            assert store.state.number == best.number
            assert store.state.root == store.info(best.hash).state_root
            assert store.state.root == Trie({}).apply(EMPTY_ROOT, entries).root
            assert dict(store.state.at(store.state.root).iter_prefix(b"")) == entries
            last_durable = best.number
    assert last_durable >= 6
