"""A binary Merkle tree over blake2-256 with domain separation, for commitments that are proven piecewise.

The compute market commits to every per-step state hash of a training run with one root and later opens
single leaves on-chain (the bisection game), so the tree must be cheap to build for 10^5+ leaves, cheap to
open many times, and its proofs must be checkable by a verifier that trusts nothing but the root and the
leaf count.

Rules (fixed, because roots are stored on-chain):
- leaf node  = blake2_256(0x00 ++ leaf_bytes)
- inner node = blake2_256(0x01 ++ left ++ right)
  The distinct prefixes keep a leaf from ever being read as an inner node (no second preimages).
- A level with an odd number of nodes promotes its last node unchanged to the next level (as in Bitcoin's
  tree but without duplicating it, so no two leaf lists share a root by padding). The proof of a promoted
  node therefore has no sibling at that level: the proof's length depends on the leaf's index and on the
  leaf count, and a verifier computes it from both and rejects any other length.
- root = blake2_256(0x02 ++ u64_le(leaf_count) ++ top), where top is the single node left after
  reducing the levels (nothing for no leaves). Binding the count means a proof checked against the wrong
  leaf count fails even where the path shapes of the two counts coincide, and an empty list has a root
  (`EMPTY_ROOT`) that nothing else has.

Proof elements are listed from the leaf level upward.
"""

from __future__ import annotations

from collections.abc import Sequence

from chain.primitives.hashing import blake2_256

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
ROOT_PREFIX = b"\x02"
HASH_LEN = 32
MAX_LEAF_COUNT = (1 << 64) - 1  # the count is committed as a u64; also bounds the verifier's loop


class MerkleError(ValueError):
    """A request the tree cannot answer: no leaves, or an index outside the leaves."""


def leaf_hash(leaf: bytes) -> bytes:
    return blake2_256(LEAF_PREFIX + bytes(leaf))


def node_hash(left: bytes, right: bytes) -> bytes:
    return blake2_256(NODE_PREFIX + left + right)


def root_hash(leaf_count: int, top: bytes) -> bytes:
    return blake2_256(ROOT_PREFIX + leaf_count.to_bytes(8, "little") + top)


EMPTY_ROOT = root_hash(0, b"")


def _next_level(level: list[bytes]) -> list[bytes]:
    n = len(level)
    up = [node_hash(level[i], level[i + 1]) for i in range(0, n - 1, 2)]
    if n % 2:
        up.append(level[-1])
    return up


class MerkleTree:
    """All levels of a tree, built once so a prover can answer many proofs in O(log n) each."""

    __slots__ = ("levels",)

    def __init__(self, leaves: Sequence[bytes]):
        level = [leaf_hash(leaf) for leaf in leaves]
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            level = _next_level(level)
            self.levels.append(level)

    @property
    def leaf_count(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        top = self.levels[-1]
        return root_hash(len(self.levels[0]), top[0]) if top else EMPTY_ROOT

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from the leaf level upward; promoted levels contribute nothing."""
        n = self.leaf_count
        if not 0 <= index < n:
            raise MerkleError(f"leaf index {index} is outside a tree of {n} leaves")
        path: list[bytes] = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    return MerkleTree(leaves).root


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """One proof; build a `MerkleTree` instead when answering several."""
    return MerkleTree(leaves).proof(index)


def proof_length(index: int, leaf_count: int) -> int:
    """The exact number of siblings a proof of `index` has in a tree of `leaf_count` leaves."""
    length = 0
    n = leaf_count
    while n > 1:
        if not (index == n - 1 and n % 2):
            length += 1
        index >>= 1
        n = (n + 1) // 2
    return length


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray | memoryview) and len(value) == HASH_LEN


def verify_merkle_proof(
    root: bytes, index: int, leaf: bytes, proof: Sequence[bytes], leaf_count: int
) -> bool:
    """Whether `leaf` sits at `index` of a `leaf_count`-leaf tree with this root.

    Built for untrusted input: any malformed argument (wrong types, wrong lengths, out-of-range index, a
    proof longer or shorter than the tree's depth at that index) yields False, never an exception.
    """
    if not _is_hash(root) or not isinstance(leaf, bytes | bytearray | memoryview):
        return False
    if type(index) is not int or type(leaf_count) is not int:
        return False
    if not 0 < leaf_count <= MAX_LEAF_COUNT or not 0 <= index < leaf_count:
        return False
    if not isinstance(proof, list | tuple) or len(proof) != proof_length(index, leaf_count):
        return False
    if not all(_is_hash(sibling) for sibling in proof):
        return False
    node = leaf_hash(bytes(leaf))
    siblings = iter(bytes(s) for s in proof)
    n = leaf_count
    while n > 1:
        if not (index == n - 1 and n % 2):
            sibling = next(siblings)
            node = node_hash(sibling, node) if index & 1 else node_hash(node, sibling)
        index >>= 1
        n = (n + 1) // 2
    return root_hash(leaf_count, node) == bytes(root)
