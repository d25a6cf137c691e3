"""Arbitrary bytes fed to node decoding and proof verification raise only the trie's typed errors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.primitives.codec import DecodeError
from chain.primitives.hashing import blake2_256
from chain.storage.proof import InvalidProof, prove, verify_proof
from chain.storage.trie import (
    EMPTY_ROOT,
    NodeDecodeError,
    Trie,
    decode_node,
    encode_node,
)

_STORE: dict[bytes, bytes] = {}
_UPDATE = Trie(_STORE).apply(
    EMPTY_ROOT, {blake2_256(bytes([i]))[: 1 + i % 5]: bytes([i]) * (i % 7) for i in range(60)}
)
_STORE.update(_UPDATE.new_nodes)
ROOT = _UPDATE.root
REAL_NODES = list(_STORE.values())

# Bytes that look like nodes often enough to get past the tag and the first length.
node_like = st.one_of(
    st.binary(max_size=120),
    st.tuples(st.integers(0, 4), st.binary(max_size=100)).map(lambda t: bytes([t[0]]) + t[1]),
    st.tuples(st.sampled_from(REAL_NODES), st.integers(0, 200), st.integers(0, 255)).map(
        lambda t: t[0][: t[1] % (len(t[0]) + 1)] + bytes([t[2]]) + t[0][t[1] % (len(t[0]) + 1) + 1 :]
    ),
)


@settings(max_examples=10_000)
@given(node_like)
def test_decode_node_raises_only_node_decode_error(data):
    try:
        node = decode_node(data)
    except NodeDecodeError:
        return
    if node is not None:
        assert encode_node(*node) == data, "decoding accepted a non-canonical encoding"


@settings(max_examples=10_000)
@given(st.lists(node_like, max_size=4), st.binary(max_size=6), st.booleans())
def test_verify_proof_raises_only_invalid_proof(nodes, key, rooted_in_proof):
    root = blake2_256(nodes[0]) if nodes and rooted_in_proof else ROOT
    try:
        verify_proof(root, nodes + REAL_NODES[: len(key)], key)
    except InvalidProof:
        pass


@settings(max_examples=2_000)
@given(st.binary(max_size=6))
def test_genuine_proofs_verify_for_arbitrary_keys(key):
    proof = prove(_STORE, ROOT, [key])
    assert verify_proof(ROOT, proof, key) == Trie(_STORE).get(ROOT, key)


def test_node_decode_error_is_a_codec_decode_error():
    assert issubclass(NodeDecodeError, DecodeError)
