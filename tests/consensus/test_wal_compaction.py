"""WAL compaction (`WriteAheadLog.compact`): committed heights leave the log atomically, later appends and a
reopen see exactly the kept records, and a crash during the rewrite leaves the old log whole. The schedule
(every `WAL_ROTATE_EVERY` stored heights) belongs to the `ConsensusDriver`."""

from __future__ import annotations

import pytest

from chain.primitives.crypto import Keypair
from chain.primitives.hashing import blake2_256
from consensus.driver import WAL_ROTATE_EVERY, ConsensusDriver
from consensus.engine import Engine
from consensus.guard import SignerGuard
from consensus.storage import AppendFile, MemoryLog, MemoryValue
from consensus.validators import ValidatorSet
from consensus.wal import BlockBuilt, RecordKind, WriteAheadLog, read_records
from tests.consensus.crashing_stores import CrashingLog, SimulatedCrash


def _built(height: int) -> BlockBuilt:
    return BlockBuilt(height, 0, b"block-%d" % height)


def _heights(data: bytes) -> list[int]:
    records, intact = read_records(data)
    assert intact == len(data)
    return [r.height for r in records]


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_compact_keeps_only_uncommitted_heights_and_appends_after_them(tmp_path, kind):
    store = AppendFile(tmp_path / "wal") if kind == "file" else MemoryLog()
    wal = WriteAheadLog(store)
    for h in (1, 1, 2, 3, 3, 4):
        wal.append(RecordKind.BLOCK_BUILT, _built(h))
    wal.compact(3)
    wal.append(RecordKind.END_HEIGHT, 5)
    assert _heights(store.read()) == [3, 3, 4, 5]
    reopened = WriteAheadLog(AppendFile(tmp_path / "wal") if kind == "file" else store)
    assert [r.height for r in reopened.records()] == [3, 3, 4, 5]


def test_compact_at_open_also_trims_what_a_restart_replays(tmp_path):
    first = WriteAheadLog(AppendFile(tmp_path / "wal"))
    for h in (7, 8, 9):
        first.append(RecordKind.BLOCK_BUILT, _built(h))
    first.store.close()
    wal = WriteAheadLog(AppendFile(tmp_path / "wal"))
    wal.compact(9)
    assert [r.height for r in wal.records()] == [9]


def test_crash_during_compaction_leaves_the_old_log_whole():
    def crash_on_rewrite(label: str) -> None:
        if armed:
            raise SimulatedCrash(label)

    armed = False
    store = CrashingLog(fault=crash_on_rewrite)
    wal = WriteAheadLog(store)
    for h in (1, 2):
        wal.append(RecordKind.BLOCK_BUILT, _built(h))
    armed = True
    with pytest.raises(SimulatedCrash):
        wal.compact(2)
    assert _heights(store.read()) == [1, 2]


def test_driver_compacts_its_wal_every_rotate_heights_only():
    """The compaction schedule is the driver's: stored blocks below a multiple of WAL_ROTATE_EVERY keep
    the log as it is, and the block at the multiple drops every record below the next height."""
    key = Keypair.from_seed(blake2_256(b"driver-compaction"))
    genesis = blake2_256(b"driver-compaction-genesis")
    engine = Engine(
        genesis_hash=genesis,
        signer=SignerGuard(key, genesis, MemoryValue()),
        validator_sets=lambda h: ValidatorSet.of([(key.public, 1)]),
        validate_block=lambda h, b: True,
    )
    store = MemoryLog()
    driver = ConsensusDriver(engine, WriteAheadLog(store))
    heights = [1, WAL_ROTATE_EVERY - 1, WAL_ROTATE_EVERY, WAL_ROTATE_EVERY + 1]
    for h in heights:
        driver.wal.append(RecordKind.BLOCK_BUILT, _built(h))
    for h in range(1, WAL_ROTATE_EVERY):
        driver.block_stored(h)
    assert _heights(store.read()) == heights
    driver.block_stored(WAL_ROTATE_EVERY)
    assert _heights(store.read()) == [WAL_ROTATE_EVERY + 1]
