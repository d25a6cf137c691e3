"""WAL compaction (`WriteAheadLog.compact`): committed heights leave the log atomically, later appends and a
reopen see exactly the kept records, and a crash during the rewrite leaves the old log whole."""

from __future__ import annotations

import pytest

from consensus.storage import AppendFile, MemoryLog
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
