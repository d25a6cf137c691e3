"""Read proofs: the trie nodes on the paths to some keys, and their verification against a state root.

A light client (or a bridge, or a test) holding only a header's `stateRoot` checks a value by walking the
proof nodes from the root, each found by its blake2-256 hash. Anything short of a full path to the key's
value or to the point where the key provably branches off is an `InvalidProof`; malformed, truncated or
foreign bytes never escape as any other exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from chain.storage.trie import (
    EMPTY_ROOT,
    MissingNode,
    NodeDecodeError,
    NodeStore,
    TrieError,
    decode_node,
)

_blake2b = hashlib.blake2b
_NIBBLE = {c: i for i, c in enumerate("0123456789abcdef")}


class InvalidProof(TrieError):
    """A read proof proves nothing against the given root: a node is missing, malformed, or unhashed."""


def prove(store: NodeStore, root: bytes, keys: Iterable[bytes]) -> list[bytes]:
    """The encoded nodes on the paths to `keys` in the trie at `root`: enough to prove each value or
    its absence. Order is first-visit order; duplicates are dropped."""
    seen: dict[bytes, bytes] = {}
    if root == EMPTY_ROOT:
        return []
    for key in keys:
        path = key.hex()
        pos = 0
        node_hash: bytes | None = root
        while node_hash is not None:
            data = store.get(node_hash)
            if data is None:
                raise MissingNode(node_hash)
            seen[node_hash] = data
            node = decode_node(data)
            if node is None or node[1] is None:
                break
            end = pos + len(node[0])
            if path[pos:end] != node[0] or len(path) == end:
                break
            node_hash = node[1][_NIBBLE[path[end]]]
            pos = end + 1
    return list(seen.values())


def verify_proof(root: bytes, proof_nodes: Iterable[bytes], key: bytes) -> bytes | None:
    """The value `proof_nodes` prove for `key` under `root`, or None when they prove its absence.

    Raises `InvalidProof` (and nothing else) when the nodes do not prove either.
    """
    if root == EMPTY_ROOT:
        return None
    by_hash: dict[bytes, bytes] = {}
    try:
        for data in proof_nodes:
            if not isinstance(data, bytes):
                raise InvalidProof(f"proof node is {type(data).__name__}, not bytes")
            by_hash[_blake2b(data, digest_size=32).digest()] = data
    except TypeError as e:
        raise InvalidProof(f"proof is not a collection of nodes: {e}") from None
    path = key.hex()
    pos = 0
    node_hash = root
    while True:
        data = by_hash.get(node_hash)
        if data is None:
            raise InvalidProof(
                f"proof lacks node {node_hash.hex()} on the path of key {key.hex()} "
                f"at nibble {pos} under root {root.hex()}"
            )
        try:
            node = decode_node(data)
        except NodeDecodeError as e:
            raise InvalidProof(f"proof node {node_hash.hex()} is malformed: {e}") from e
        if node is None:
            return None
        partial, children, value = node
        if children is None:
            return value if path[pos:] == partial else None
        end = pos + len(partial)
        if path[pos:end] != partial:
            return None
        if len(path) == end:
            return value
        child = children[_NIBBLE[path[end]]]
        if child is None:
            return None
        node_hash = child
        pos = end + 1
