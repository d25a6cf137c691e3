"""Open a node's database for a chain spec, writing the genesis block into a fresh one."""

from __future__ import annotations

from pathlib import Path

from chain.primitives.types import Block
from chain.storage.blockstore import BlockStore
from runtime.chain_spec import ChainSpec


def open_chain_database(path: Path, spec: ChainSpec, pruning: int | str = 256) -> BlockStore:
    """Open (or create) the database at `path`; it must belong to `spec`'s chain (typed error otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    store = BlockStore.open(path, spec.genesis_hash, spec.id, pruning)
    if store.best is None:
        header = spec.genesis_header
        update = store.state.prepare(dict(spec.genesis_storage), 0)
        if update.root != header.state_root:
            store.close()
            raise ValueError("the genesis storage does not hash to the genesis state root")
        store.commit_block(
            header.hash,
            0,
            header.parent_hash,
            header.encode(),
            Block(header, ()).encode_body(),
            None,
            update,
            finalized=True,
        )
    return store
