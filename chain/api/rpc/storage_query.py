"""Storage queries of the new JSON-RPC spec, shared by `chainHead_v1_storage` and `archive_v1_storage`.

A query names a key and what to return about it: its `value`, its `hash` (blake2-256, the chain's hasher),
the `closestDescendantMerkleValue` (the hash of the trie node at the key or, when no node sits exactly there,
of the highest node below it: every child in this trie is referenced by hash, so a node's Merkle value is
its hash), or the values or hashes of every key below it (`descendantsValues`, `descendantsHashes`).

Queries are parsed once, at the edge (`parse_queries`), into `StorageQuery` values; `results` then yields the
spec's item objects lazily, so a caller can page through many descendants. Reads go to the trie at the
block's state root (`state_view`), which does not change under a paged read the way the head's flat table
would when the next block is committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chain.api.jsonrpc_server import InvalidParams
from chain.api.rpc.params import hex_bytes, to_hex
from chain.primitives.hashing import blake2_256
from chain.storage.state import StateUnavailable, StateView
from chain.storage.trie import EMPTY_ROOT, decode_node

MAX_KEY_BYTES = 1024
MAX_QUERIES = 1024
VALUE, HASH, MERKLE = "value", "hash", "closestDescendantMerkleValue"
DESCENDANTS_VALUES, DESCENDANTS_HASHES = "descendantsValues", "descendantsHashes"
QUERY_TYPES = (VALUE, HASH, MERKLE, DESCENDANTS_VALUES, DESCENDANTS_HASHES)


@dataclass(frozen=True)
class StorageQuery:
    key: bytes
    type: str
    start_after: bytes | None = None  # archive's paginationStartKey: resume after this key

    @property
    def descendants(self) -> bool:
        return self.type in (DESCENDANTS_VALUES, DESCENDANTS_HASHES)


def parse_queries(value: Any, *, pagination: bool) -> list[StorageQuery]:
    """The `items` parameter: a list of `{"key": hex, "type": one of QUERY_TYPES}` (and, for the archive,
    an optional `paginationStartKey` on descendants queries)."""
    if not isinstance(value, list):
        raise InvalidParams(f"items must be a list of {{key, type}} objects, got {type(value).__name__}")
    if len(value) > MAX_QUERIES:
        raise InvalidParams(f"items has {len(value)} entries; at most {MAX_QUERIES} are accepted")
    allowed = {"key", "type", "paginationStartKey"} if pagination else {"key", "type"}
    queries = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidParams(f"items[{i}] must be an object with key and type")
        unknown = set(item) - allowed
        if unknown:
            raise InvalidParams(f"items[{i}] has unknown field(s) {', '.join(sorted(unknown))}")
        key = hex_bytes(item.get("key"), f"items[{i}].key", max_len=MAX_KEY_BYTES)
        kind = item.get("type")
        if kind not in QUERY_TYPES:
            raise InvalidParams(f"items[{i}].type must be one of {', '.join(QUERY_TYPES)}, got {kind!r}")
        start = item.get("paginationStartKey")
        if start is not None:
            if kind not in (DESCENDANTS_VALUES, DESCENDANTS_HASHES):
                raise InvalidParams(f"items[{i}].paginationStartKey is only valid for descendants queries")
            start = hex_bytes(start, f"items[{i}].paginationStartKey", max_len=MAX_KEY_BYTES)
        queries.append(StorageQuery(key, kind, start))
    return queries


def parse_child_trie(value: Any) -> bytes | None:
    """`childTrie`: null for the main trie, else a hex key. This chain has no child tries, so any child
    trie is empty."""
    return None if value is None else hex_bytes(value, "childTrie", max_len=MAX_KEY_BYTES)


def state_view(node, state_root: bytes) -> StateView:
    """The state at `state_root` read through its trie; raises StateError if it was pruned."""
    return node.chain.store.state.at(state_root)


def closest_descendant_merkle_value(view: StateView, key: bytes) -> bytes | None:
    """The hash of the highest trie node whose path starts with `key`, or None when no key starts with it;
    raises StateUnavailable if the state was pruned meanwhile."""
    if view.root == EMPTY_ROOT:
        return None
    target = key.hex()
    node_hash, path = view.root, ""
    while True:
        data = view.trie.store.get(node_hash)
        if data is None:
            raise StateUnavailable(
                f"state {view.root.hex()} was pruned while being read (node {node_hash.hex()})"
            )
        partial, children, _ = decode_node(data)
        full = path + partial
        if full.startswith(target):
            return node_hash
        if children is None or not target.startswith(full):
            return None
        nibble = target[len(full)]
        child = children[int(nibble, 16)]
        if child is None:
            return None
        node_hash, path = child, full + nibble


def results(view: StateView, queries: list[StorageQuery]) -> Iterator[dict]:
    """The spec's items (`{"key", "value" | "hash" | "closestDescendantMerkleValue"}`) answering `queries`,
    in order; a key without a value yields nothing."""
    for query in queries:
        if query.type == MERKLE:
            merkle = closest_descendant_merkle_value(view, query.key)
            if merkle is not None:
                yield {"key": to_hex(query.key), MERKLE: to_hex(merkle)}
            continue
        field = VALUE if query.type in (VALUE, DESCENDANTS_VALUES) else HASH
        if not query.descendants:
            value = view.get(query.key)
            if value is not None:
                yield {
                    "key": to_hex(query.key),
                    field: to_hex(value if field == VALUE else blake2_256(value)),
                }
            continue
        for key, value in view.iter_prefix(query.key):
            if query.start_after is None or key > query.start_after:
                yield {"key": to_hex(key), field: to_hex(value if field == VALUE else blake2_256(value))}
