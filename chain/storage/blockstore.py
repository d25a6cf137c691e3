"""Blocks on disk: headers, bodies, commit certificates, the number index and the chain markers.

Headers and bodies are opaque bytes keyed by block hash; this module never decodes them, so it does not
depend on the block codecs. `commit_block` writes a block, its certificate, the index, the best and
finalized markers and the block's state update in ONE LevelDB write batch (sync by default): after a
crash at any instant the database holds the previous block or the new one, never a mix.

The genesis hash (and optionally the chain id) is stored with block 0, and opening a database with a
different one raises `WrongChain`, so a node never mixes two chains' data under one base path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chain.storage.kv import Column, Database
from chain.storage.state import DEFAULT_PRUNING_WINDOW, StateDB, StateUpdate

_GENESIS = b"genesis_hash"
_CHAIN_ID = b"chain_id"
_BEST = b"best"  # u64 LE number ++ hash
_FINALIZED = b"finalized"  # u64 LE number ++ hash


class BlockStoreError(Exception):
    """Base of block-store failures."""


class WrongChain(BlockStoreError):
    """The database belongs to a chain with another genesis hash or chain id."""


class NotNextBlock(BlockStoreError):
    """A committed block must extend the best block (or be genesis on an empty database)."""


class StateMismatch(BlockStoreError):
    """The state update passed with a block is not the one for that block number."""


@dataclass(frozen=True)
class BlockInfo:
    number: int
    parent_hash: bytes
    state_root: bytes

    def encode(self) -> bytes:
        return self.number.to_bytes(8, "little") + self.parent_hash + self.state_root

    @classmethod
    def decode(cls, data: bytes) -> BlockInfo:
        return cls(int.from_bytes(data[:8], "little"), data[8:40], data[40:72])


@dataclass(frozen=True)
class BlockRef:
    number: int
    hash: bytes


def _ref(data: bytes | None) -> BlockRef | None:
    return None if data is None else BlockRef(int.from_bytes(data[:8], "little"), data[8:])


def _number_key(number: int) -> bytes:
    return number.to_bytes(8, "big")


class BlockStore:
    """The blocks of one chain and, in `state`, its state."""

    def __init__(
        self,
        db: Database,
        genesis_hash: bytes | None,
        chain_id: str | None = None,
        pruning: int | str = DEFAULT_PRUNING_WINDOW,
    ):
        """`genesis_hash`/`chain_id` are checked against the database's markers (None skips a check)."""
        self.db = db
        stored_genesis = db.get(Column.META, _GENESIS)
        if genesis_hash is not None and stored_genesis is not None and stored_genesis != genesis_hash:
            raise WrongChain(
                f"database at {db.path} belongs to the chain with genesis {stored_genesis.hex()}, "
                f"not {genesis_hash.hex()}; use another base path or purge this chain"
            )
        stored_id = db.get(Column.META, _CHAIN_ID)
        if chain_id is not None and stored_id is not None and stored_id != chain_id.encode():
            raise WrongChain(
                f"database at {db.path} belongs to chain {stored_id.decode(errors='replace')!r}, "
                f"not {chain_id!r}"
            )
        self.genesis_hash = genesis_hash if stored_genesis is None else stored_genesis
        self.chain_id = chain_id
        self.state = StateDB(db, pruning)

    @classmethod
    def open(
        cls,
        path: str | Path,
        genesis_hash: bytes | None,
        chain_id: str | None = None,
        pruning: int | str = DEFAULT_PRUNING_WINDOW,
    ) -> BlockStore:
        db = Database(path)
        try:
            return cls(db, genesis_hash, chain_id, pruning)
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> BlockStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads

    def header(self, block_hash: bytes) -> bytes | None:
        return self.db.get(Column.HEADER, block_hash)

    def body(self, block_hash: bytes) -> bytes | None:
        return self.db.get(Column.BODY, block_hash)

    def justification(self, block_hash: bytes) -> bytes | None:
        return self.db.get(Column.JUSTIFICATION, block_hash)

    def info(self, block_hash: bytes) -> BlockInfo | None:
        data = self.db.get(Column.BLOCK_INFO, block_hash)
        return None if data is None else BlockInfo.decode(data)

    def hash_at(self, number: int) -> bytes | None:
        return self.db.get(Column.NUMBER, _number_key(number))

    @property
    def best(self) -> BlockRef | None:
        return _ref(self.db.get(Column.META, _BEST))

    @property
    def finalized(self) -> BlockRef | None:
        return _ref(self.db.get(Column.META, _FINALIZED))

    # -- writes

    def commit_block(
        self,
        block_hash: bytes,
        number: int,
        parent_hash: bytes,
        header_bytes: bytes,
        body_bytes: bytes,
        justification_bytes: bytes | None,
        state_update: StateUpdate,
        finalized: bool = True,
        sync: bool = True,
    ) -> None:
        """Write the block, its certificate, index, markers and state update in one atomic batch.

        The caller has checked `state_update.root` against the header's state root.
        """
        best = self.best
        if best is None:
            if number != 0:
                raise NotNextBlock(
                    f"database at {self.db.path} is empty; the first block must be genesis "
                    f"(number 0), not number {number}"
                )
            if self.genesis_hash is not None and block_hash != self.genesis_hash:
                raise WrongChain(
                    f"genesis block {block_hash.hex()} is not the expected genesis {self.genesis_hash.hex()}"
                )
        elif number != best.number + 1 or parent_hash != best.hash:
            raise NotNextBlock(
                f"block {number} ({block_hash.hex()}) with parent {parent_hash.hex()} does not "
                f"extend the best block {best.number} ({best.hash.hex()})"
            )
        if state_update.number != number:
            raise StateMismatch(f"block {number} was given the state update of block {state_update.number}")
        batch = self.db.batch(sync=sync)
        batch.put(Column.HEADER, block_hash, header_bytes)
        batch.put(Column.BODY, block_hash, body_bytes)
        if justification_bytes is not None:
            batch.put(Column.JUSTIFICATION, block_hash, justification_bytes)
        batch.put(Column.BLOCK_INFO, block_hash, BlockInfo(number, parent_hash, state_update.root).encode())
        batch.put(Column.NUMBER, _number_key(number), block_hash)
        marker = number.to_bytes(8, "little") + block_hash
        batch.put(Column.META, _BEST, marker)
        if finalized:
            batch.put(Column.META, _FINALIZED, marker)
        if number == 0:
            batch.put(Column.META, _GENESIS, block_hash)
            if self.chain_id is not None:
                batch.put(Column.META, _CHAIN_ID, self.chain_id.encode())
        self.state.write(batch, state_update)
        self.db.write(batch)
        self.state.committed(state_update)
        if number == 0:
            self.genesis_hash = block_hash

    def set_justification(self, block_hash: bytes, justification_bytes: bytes, sync: bool = True) -> None:
        """Store (or replace) a block's commit certificate, e.g. one received later than its block."""
        if self.db.get(Column.BLOCK_INFO, block_hash) is None:
            raise BlockStoreError(f"no block {block_hash.hex()} in database at {self.db.path}")
        batch = self.db.batch(sync=sync)
        batch.put(Column.JUSTIFICATION, block_hash, justification_bytes)
        self.db.write(batch)

    def set_finalized(self, block_hash: bytes, sync: bool = True) -> None:
        """Move the finalized marker to a stored block at or below the best one."""
        info = self.info(block_hash)
        if info is None or self.hash_at(info.number) != block_hash:
            raise BlockStoreError(f"block {block_hash.hex()} is not on the stored chain in {self.db.path}")
        batch = self.db.batch(sync=sync)
        batch.put(Column.META, _FINALIZED, info.number.to_bytes(8, "little") + block_hash)
        self.db.write(batch)
