"""A child process for the crash test: commits deterministic blocks forever until it is killed.

After each commit returns it prints the block number, so the parent knows which blocks were durable.
Run as `python -m tests.storage.crash_writer <db path>`.
"""

from __future__ import annotations

import sys

from chain.primitives.hashing import blake2_256
from chain.storage.blockstore import BlockStore

GENESIS = blake2_256(b"block 0")


def block_hash(number: int) -> bytes:
    return blake2_256(b"block %d" % number)


def header(number: int) -> bytes:
    return b"header %d " % number + bytes(200)


def body(number: int) -> bytes:
    return b"body %d " % number + bytes(number % 500)


def changes(number: int) -> dict[bytes, bytes | None]:
    """Block n writes 150 keys out of a pool of 3000 and deletes 10."""
    out: dict[bytes, bytes | None] = {}
    for i in range(150):
        out[blake2_256(b"%d" % ((number * 151 + i * 7) % 3000))] = b"value %d.%d" % (number, i)
    for i in range(10):
        out[blake2_256(b"%d" % ((number * 37 + i * 11) % 3000))] = None
    return out


def state_at(number: int) -> dict[bytes, bytes]:
    entries: dict[bytes, bytes] = {}
    for n in range(number + 1):
        for k, v in changes(n).items():
            if v is None:
                entries.pop(k, None)
            else:
                entries[k] = v
    return entries


def main(path: str) -> None:
    store = BlockStore.open(path, GENESIS, chain_id="crash-test", pruning=8)
    while True:
        best = store.best
        number = 0 if best is None else best.number + 1
        parent = bytes(32) if number == 0 else block_hash(number - 1)
        update = store.state.prepare(changes(number), number)
        store.commit_block(
            block_hash(number), number, parent, header(number), body(number), b"cert %d" % number, update
        )
        print(number, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
