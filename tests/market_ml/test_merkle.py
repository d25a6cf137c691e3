"""The Merkle commitment: every leaf provable, nothing else provable, garbage never raises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.primitives.hashing import blake2_256
from chain.primitives.merkle import (
    EMPTY_ROOT,
    MerkleError,
    MerkleTree,
    leaf_hash,
    merkle_proof,
    merkle_root,
    node_hash,
    proof_length,
    root_hash,
    verify_merkle_proof,
)

leaf_lists = st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=40)


def test_root_of_one_leaf_commits_count_and_leaf_hash():
    assert merkle_root([b"a"]) == blake2_256(b"\x02" + (1).to_bytes(8, "little") + blake2_256(b"\x00a"))
    assert merkle_proof([b"a"], 0) == []


def test_root_of_no_leaves_is_empty_root():
    assert merkle_root([]) == EMPTY_ROOT == blake2_256(b"\x02" + bytes(8))


def test_inner_nodes_are_domain_separated_and_odd_node_promoted():
    a, b, c = leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")
    assert node_hash(a, b) == blake2_256(b"\x01" + a + b)
    assert merkle_root([b"a", b"b", b"c"]) == root_hash(3, node_hash(node_hash(a, b), c))
    assert merkle_proof([b"a", b"b", b"c"], 2) == [node_hash(a, b)]


def test_a_leaf_cannot_pose_as_an_inner_node():
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert not verify_merkle_proof(merkle_root([b"a", b"b"]), 0, a + b, [], 1)
    assert not verify_merkle_proof(root_hash(1, node_hash(a, b)), 0, a + b, [], 1)


@given(leaf_lists)
def test_every_index_proves(leaves):
    tree = MerkleTree(leaves)
    assert tree.root == merkle_root(leaves)
    for i, leaf in enumerate(leaves):
        proof = tree.proof(i)
        assert len(proof) == proof_length(i, len(leaves))
        assert verify_merkle_proof(tree.root, i, leaf, proof, len(leaves))


@given(leaf_lists, st.data())
def test_invalid_wrong_index_leaf_count_leaf_or_proof_never_verifies(leaves, data):
    tree = MerkleTree(leaves)
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = tree.proof(i)
    j = data.draw(st.integers(0, n - 1))
    if leaves[j] != leaves[i]:
        assert not verify_merkle_proof(tree.root, j, leaves[i], proof, n)
    other = data.draw(st.binary(max_size=40))
    if other != leaves[i]:
        assert not verify_merkle_proof(tree.root, i, other, proof, n)
    for count in (n - 1, n + 1, 2 * n, n + 7, 0, -1):
        assert not verify_merkle_proof(tree.root, i, leaves[i], proof, count)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        tampered = list(proof)
        tampered[k] = bytes(
            x ^ (1 << (bit % 8)) if idx == bit // 8 else x for idx, x in enumerate(tampered[k])
        )
        assert not verify_merkle_proof(tree.root, i, leaves[i], tampered, n)
        assert not verify_merkle_proof(tree.root, i, leaves[i], proof[:-1], n)
    assert not verify_merkle_proof(tree.root, i, leaves[i], [*proof, tree.root], n)


@given(
    st.one_of(st.none(), st.integers(), st.binary(), st.text(), st.lists(st.binary())),
    st.one_of(st.none(), st.integers(), st.floats(), st.binary()),
    st.one_of(st.none(), st.binary(), st.integers()),
    st.one_of(st.none(), st.binary(), st.lists(st.one_of(st.binary(), st.integers(), st.none()))),
    st.one_of(st.none(), st.integers(), st.floats(), st.binary()),
)
def test_verify_never_raises_on_garbage(root, index, leaf, proof, leaf_count):
    assert verify_merkle_proof(root, index, leaf, proof, leaf_count) in (True, False)


def test_invalid_proof_index_out_of_range_raises_typed_error():
    with pytest.raises(MerkleError, match="outside a tree of 3 leaves"):
        MerkleTree([b"a", b"b", b"c"]).proof(3)


def test_large_tree_builds_once_and_answers_many_proofs():
    leaves = [i.to_bytes(32, "little") for i in range(100_001)]
    tree = MerkleTree(leaves)
    for i in (0, 1, 65_536, 99_999, 100_000):
        assert verify_merkle_proof(tree.root, i, leaves[i], tree.proof(i), len(leaves))
