"""Start-up checks of a node's database against itself and against what consensus remembers.

`check_database` runs before anything is served: the head block (header, body, number index) and its state
root must be present, and the head's whole state trie reachable, every node hashing to its reference. A
database that fails is refused with `DatabaseInconsistent`, naming the fault and the fix, rather than
started to loop on `MissingNode` later.

`finalized_by_consensus` reads the consensus WAL and the signer guard: a validator only works on height
h + 1 once h is final, so either file at height h + 1 proves that h was finalized. A database head behind
that height lost finalized blocks (a truncated log, a deleted directory); the node says so and syncs them
from peers before it takes part in consensus again (see `Node.start`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from chain.primitives.codec import DecodeError
from chain.storage.blockstore import BlockStore, BlockStoreError
from chain.storage.kv import DatabaseError
from chain.storage.trie import EMPTY_ROOT, decode_node
from consensus.guard import LastSigned
from consensus.wal import RecordKind, read_records

RECENT_BLOCKS = 64  # the newest blocks whose header, body and index are checked at start

PURGE_HINT = (
    "stop the node, delete the chain's database (`gradchain purge-chain`, which keeps the signer "
    "guard) and start it again to re-sync from peers"
)


class DatabaseInconsistent(BlockStoreError):
    """The database opens but contradicts itself (a missing head, state root or trie node)."""


def check_database(store: BlockStore) -> None:
    """Raise `DatabaseInconsistent` unless the head and its whole state are present and intact."""
    path = store.db.path
    try:
        best, finalized = store.best, store.finalized
        if best is None:
            raise DatabaseInconsistent(f"database at {path} has no head block marker; {PURGE_HINT}")
        if finalized is not None and finalized.number > best.number:
            raise DatabaseInconsistent(
                f"database at {path} has finalized #{finalized.number} above its head "
                f"#{best.number}; {PURGE_HINT}"
            )
        for number in range(max(0, best.number - RECENT_BLOCKS + 1), best.number + 1):
            block_hash = store.hash_at(number)
            if (
                block_hash is None
                or store.header(block_hash) is None
                or store.body(block_hash) is None
                or store.info(block_hash) is None
            ):
                raise DatabaseInconsistent(
                    f"database at {path} lacks block #{number} below its head #{best.number}; {PURGE_HINT}"
                )
        if store.hash_at(best.number) != best.hash:
            raise DatabaseInconsistent(
                f"database at {path}: the head #{best.number} is not the block indexed "
                f"at that height; {PURGE_HINT}"
            )
        root = store.info(best.hash).state_root
        _check_trie(store, root, best.number)
    except DatabaseError as e:
        raise DatabaseInconsistent(f"database at {path} cannot be read: {e}; {PURGE_HINT}") from None


def _check_trie(store: BlockStore, root: bytes, head: int) -> None:
    if root == EMPTY_ROOT:
        return
    pending, seen = [root], set()
    while pending:
        node_hash = pending.pop()
        if node_hash in seen:
            continue
        seen.add(node_hash)
        data = store.state.trie.store.get(node_hash)
        problem = None
        if data is None:
            problem = "is missing"
        elif hashlib.blake2b(data, digest_size=32).digest() != node_hash:
            problem = "does not hash to its reference (corrupt)"
        else:
            try:
                node = decode_node(data)
            except DecodeError as e:
                problem = f"does not decode ({e})"
            else:
                if node is not None and node[1] is not None:
                    pending.extend(child for child in node[1] if child is not None)
        if problem is not None:
            which = "the state root" if node_hash == root else "a trie node"
            raise DatabaseInconsistent(
                f"database at {store.db.path}: {which} 0x{node_hash.hex()[:16]} of the "
                f"head #{head}'s state {problem}; {PURGE_HINT}"
            )


def finalized_by_consensus(consensus_dir: Path) -> int:
    """The highest height the WAL or the signer guard shows this node knew to be final (0 if none);
    raises `DatabaseInconsistent` if either file is corrupt."""
    height = 0
    wal = consensus_dir / "wal"
    if wal.exists():
        try:
            records, _intact = read_records(wal.read_bytes())
        except DecodeError as e:
            raise DatabaseInconsistent(
                f"the consensus WAL {wal} is corrupt ({e}); delete it (the signer guard "
                "still prevents double signing) and start again"
            ) from None
        for record in records:
            height = max(height, record.height if record.kind is RecordKind.END_HEIGHT else record.height - 1)
    guard = consensus_dir / "last_signed"
    if guard.exists():
        try:
            height = max(height, LastSigned.decode(guard.read_bytes()).height - 1)
        except DecodeError as e:
            raise DatabaseInconsistent(
                f"the signer guard {guard} is corrupt ({e}); restore it from a backup, "
                "or wait out the heights it may have signed before replacing it"
            ) from None
    return height
