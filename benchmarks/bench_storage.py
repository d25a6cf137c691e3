"""Storage benchmark: state-root update cost against state size, and the LevelDB block commit cost.

Prints one JSON object:
  root_update: for states of 10^4, 10^5 (and 10^6 unless --quick) `System.Account`-shaped keys (80 bytes:
      twox128 ++ twox128 ++ blake2_128_concat(account)) with 80-byte values, the time to build the trie in
      one batch, and the time of `Trie.apply` for 1,000 changed keys (500 updated, 500 inserted) with the
      nodes in memory; the ratio of the largest to the smallest state's update time is reported next to
      the ratio of their trie depths (log16 N), which it should track.
  block_commit: on a LevelDB state of 10^5 keys (10^4 with --quick), a block of 1,000 changed keys:
      `prepare` (root computation reading trie nodes from LevelDB) and `commit_block` (one sync write
      batch: flat rows, trie nodes, refcounts, journal, header, body, index, markers).

Usage: python benchmarks/bench_storage.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chain.primitives.hashing import blake2_128_concat, blake2_256, twox128  # noqa: E402
from chain.storage.blockstore import BlockStore  # noqa: E402
from chain.storage.trie import EMPTY_ROOT, Trie  # noqa: E402

PREFIX = twox128(b"System") + twox128(b"Account")
CHANGES = 1_000
RUNS = 7


def account_key(i: int) -> bytes:
    return PREFIX + blake2_128_concat(blake2_256(i.to_bytes(8, "little")))


def account_value(i: int, generation: int = 0) -> bytes:
    return (i + generation).to_bytes(16, "little") * 5


def block_changes(size: int, generation: int) -> dict[bytes, bytes]:
    """500 updates of existing accounts and 500 new accounts."""
    changes = {
        account_key((generation * 7919 + j * 997) % size): account_value(j, generation)
        for j in range(CHANGES // 2)
    }
    changes.update(
        {account_key(size + generation * CHANGES + j): account_value(j) for j in range(CHANGES // 2)}
    )
    return changes


def bench_root_update(size: int) -> dict:
    store: dict[bytes, bytes] = {}
    trie = Trie(store)
    started = time.perf_counter()
    update = trie.apply(EMPTY_ROOT, {account_key(i): account_value(i) for i in range(size)})
    store.update(update.new_nodes)
    build_s = time.perf_counter() - started
    root = update.root
    times = []
    nodes_written = 0
    for run in range(RUNS):
        changes = block_changes(size, run)
        started = time.perf_counter()
        update = trie.apply(root, changes)
        times.append(time.perf_counter() - started)
        nodes_written = len(update.new_nodes)
    return {
        "keys": size,
        "build_s": round(build_s, 2),
        "trie_nodes": len(store),
        "update_1000_ms_median": round(statistics.median(times) * 1000, 1),
        "update_1000_ms_first": round(times[0] * 1000, 1),
        "nodes_rewritten": nodes_written,
    }


def bench_block_commit(size: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = BlockStore.open(Path(tmp) / "db", None, pruning=256)
        started = time.perf_counter()
        update = store.state.prepare({account_key(i): account_value(i) for i in range(size)}, 0)
        store.commit_block(blake2_256(b"0"), 0, bytes(32), b"genesis header", b"", None, update)
        genesis_s = time.perf_counter() - started
        prepare_times, write_times, ops = [], [], 0
        for number in range(1, RUNS + 1):
            changes = block_changes(size, number)
            started = time.perf_counter()
            update = store.state.prepare(changes, number)
            prepared = time.perf_counter()
            store.commit_block(
                blake2_256(b"%d" % number),
                number,
                blake2_256(b"%d" % (number - 1)),
                os.urandom(200),
                os.urandom(20_000),
                os.urandom(3_000),
                update,
                sync=True,
            )
            write_times.append(time.perf_counter() - prepared)
            prepare_times.append(prepared - started)
            ops = len(update.trie.new_nodes)
        store.close()
    return {
        "state_keys": size,
        "genesis_commit_s": round(genesis_s, 2),
        "changes": CHANGES,
        "trie_nodes_written": ops,
        "prepare_ms_median": round(statistics.median(prepare_times) * 1000, 1),
        "write_sync_ms_median": round(statistics.median(write_times) * 1000, 1),
        "total_ms_median": round(
            statistics.median(p + w for p, w in zip(prepare_times, write_times, strict=True)) * 1000, 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only 10^4 and 10^5 keys")
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    started = time.perf_counter()
    root_update = [bench_root_update(size) for size in sizes]
    small, large = root_update[0], root_update[-1]
    block_commit = bench_block_commit(10_000 if args.quick else 100_000)
    print(
        json.dumps(
            {
                "benchmark": "storage",
                "python": sys.version.split()[0],
                "root_update": root_update,
                "root_update_growth": {
                    "time_ratio": round(large["update_1000_ms_median"] / small["update_1000_ms_median"], 2),
                    "nodes_rewritten_ratio": round(large["nodes_rewritten"] / small["nodes_rewritten"], 2),
                    "depth_ratio_log16": round(math.log(large["keys"], 16) / math.log(small["keys"], 16), 2),
                    "size_ratio": large["keys"] // small["keys"],
                },
                "block_commit": block_commit,
                "total_s": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
