"""The trie against a dict model: roots, reads, iteration, proofs, and the node encoding."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.primitives.codec import encode_compact
from chain.primitives.hashing import blake2_256
from chain.storage.proof import InvalidProof, prove, verify_proof
from chain.storage.trie import (
    EMPTY_ROOT,
    MissingNode,
    Trie,
    decode_node,
    encode_node,
    ordered_trie_root,
)

# Short keys over a tiny alphabet force shared prefixes, keys that are prefixes of others, and splits.
keys = st.binary(min_size=0, max_size=4).map(lambda b: bytes(x & 0x13 for x in b))
values = st.binary(min_size=0, max_size=40)
change_sets = st.dictionaries(keys, st.none() | values, max_size=25)


def root_of(entries: dict[bytes, bytes]) -> bytes:
    """The root of a trie built in one batch from nothing: the reference every other path must match."""
    return Trie({}).apply(EMPTY_ROOT, entries).root


class Model:
    """A trie kept in a dict node store, next to the dict it should equal."""

    def __init__(self):
        self.store: dict[bytes, bytes] = {}
        self.trie = Trie(self.store)
        self.root = EMPTY_ROOT
        self.entries: dict[bytes, bytes] = {}

    def apply(self, changes: dict[bytes, bytes | None]) -> None:
        update = self.trie.apply(self.root, changes)
        self.store.update(update.new_nodes)
        self.root = update.root
        for key, value in changes.items():
            if value is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = value


def test_empty_root_is_hash_of_empty_node():
    assert EMPTY_ROOT == blake2_256(b"\x00")
    assert root_of({}) == EMPTY_ROOT
    assert Trie({}).get(EMPTY_ROOT, b"any") is None


@settings(max_examples=300)
@given(st.lists(change_sets, min_size=1, max_size=8))
def test_trie_matches_dict_model_over_random_batches(batches):
    model = Model()
    for changes in batches:
        model.apply(changes)
        assert model.root == root_of(model.entries)
        for key, value in model.entries.items():
            assert model.trie.get(model.root, key) == value
        for key in changes:
            assert model.trie.get(model.root, key) == model.entries.get(key)
        assert list(model.trie.iter_prefix(model.root)) == sorted(model.entries.items())


@settings(max_examples=200)
@given(st.dictionaries(keys, values, max_size=30), st.randoms(use_true_random=False))
def test_root_is_independent_of_insertion_order_and_batching(entries, rnd):
    items = list(entries.items())
    rnd.shuffle(items)
    model = Model()
    i = 0
    while i < len(items):
        step = rnd.randint(1, 5)
        model.apply(dict(items[i : i + step]))
        i += step
    assert model.root == root_of(entries)


@settings(max_examples=200)
@given(st.dictionaries(keys, values, max_size=20), st.dictionaries(keys, values, min_size=1, max_size=20))
def test_deleting_back_to_the_same_set_restores_the_root(base, extra):
    model = Model()
    model.apply(base)
    before = model.root
    added = {k: v for k, v in extra.items() if k not in base}
    model.apply(added)
    model.apply(dict.fromkeys(added))
    assert model.root == before


def test_dead_and_inserted_account_for_every_reference():
    """old references - dead + inserted == new references, counted with multiplicity."""
    rng = random.Random(7)
    model = Model()
    for _ in range(40):
        changes = {
            bytes([rng.randrange(4), rng.randrange(3)]): rng.choice([None, b"x", b"y"])
            for _ in range(rng.randint(1, 6))
        }
        old = _references(model.store, model.root)
        update = model.trie.apply(model.root, changes)
        model.store.update(update.new_nodes)
        model.root = update.root
        new = _references(model.store, model.root)
        old.subtract(update.dead_nodes)
        old.update(update.inserted)
        assert +old == new


def _references(store, root):
    from collections import Counter

    refs: Counter = Counter()
    if root == EMPTY_ROOT:
        return refs
    stack = [root]
    while stack:
        node_hash = stack.pop()
        refs[node_hash] += 1
        node = decode_node(store[node_hash])
        if node[1] is not None:
            stack.extend(c for c in node[1] if c is not None)
    return refs


def test_iter_prefix_yields_only_keys_under_prefix_in_order():
    entries = {
        bytes([a, b]) + bytes(c): bytes([a, b, c])
        for a in range(3)
        for b in range(0, 40, 7)
        for c in range(3)
    }
    model = Model()
    model.apply(entries)
    for prefix in [b"", b"\x01", b"\x01\x07", b"\x01\x07\x00", b"\x09", b"\x02\x23"]:
        expected = sorted((k, v) for k, v in entries.items() if k.startswith(prefix))
        assert list(model.trie.iter_prefix(model.root, prefix)) == expected


def test_reads_of_a_pruned_node_raise_missing_node():
    model = Model()
    model.apply({bytes([i]) * 3: b"v" for i in range(20)})
    model.store.pop(next(h for h in model.store if h != model.root))
    with pytest.raises(MissingNode):
        for i in range(20):
            model.trie.get(model.root, bytes([i]) * 3)


def test_ordered_trie_root_uses_compact_index_keys():
    extrinsics = [b"first", b"second", b"\x00" * 70]
    expected = root_of({encode_compact(i): x for i, x in enumerate(extrinsics)})
    assert ordered_trie_root(extrinsics) == expected
    assert ordered_trie_root([]) == EMPTY_ROOT
    assert ordered_trie_root(extrinsics[:2]) != expected


def test_node_encoding_round_trips_and_matches_documented_layout():
    leaf = ("abc", None, b"v")
    assert encode_node(*leaf) == b"\x01" + bytes([3 << 2]) + b"\xab\xc0" + b"\x04v"
    children = [None] * 16
    children[1] = b"\x11" * 32
    children[15] = b"\xff" * 32
    branch = ("", children, None)
    assert encode_node(*branch) == b"\x02\x00" + (0x8002).to_bytes(2, "little") + b"\x11" * 32 + b"\xff" * 32
    for node in [leaf, branch, ("0" * 70, children, b"w" * 100)]:
        assert decode_node(encode_node(*node)) == node


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"\x04",
        b"\x00\x00",
        b"\x01\x04\xa1\x00",  # odd partial with non-zero padding
        b"\x02\x00\x00\x00",
        b"\x02\x00\x01\x00" + b"\x11" * 31,
        b"\x01\x00\x08v",
        b"\x01\x01\x00\x00",
        b"\x03\x00\x01\x00" + b"\x11" * 32,
    ],
)
def test_invalid_node_encodings_raise_decode_error(bad):
    from chain.storage.trie import NodeDecodeError

    with pytest.raises(NodeDecodeError):
        decode_node(bad)


# ------------------------------------------------------------------------------------------- proofs


def _big_model() -> Model:
    rng = random.Random(3)
    model = Model()
    model.apply(
        {
            blake2_256(bytes([i])) + rng.randbytes(rng.randint(0, 8)): rng.randbytes(rng.randint(1, 50))
            for i in range(200)
        }
    )
    return model


def test_proofs_verify_present_and_absent_keys():
    model = _big_model()
    present = sorted(model.entries)[::17]
    absent = [blake2_256(b"absent"), present[0] + b"\x00", present[1][:5], b""]
    proof = prove(model.store, model.root, present + absent)
    for key in present:
        assert verify_proof(model.root, proof, key) == model.entries[key]
    for key in absent:
        assert verify_proof(model.root, proof, key) is None
    assert len(proof) < len(model.store)


def test_invalid_proof_for_a_key_it_does_not_cover():
    model = _big_model()
    keys = sorted(model.entries)
    proof = prove(model.store, model.root, [keys[0]])
    with pytest.raises(InvalidProof):
        verify_proof(model.root, proof, keys[-1])


def test_invalid_proof_against_another_root():
    model = _big_model()
    key = sorted(model.entries)[5]
    proof = prove(model.store, model.root, [key])
    with pytest.raises(InvalidProof):
        verify_proof(blake2_256(b"other root"), proof, key)


def test_invalid_proof_with_tampered_node():
    model = _big_model()
    key = sorted(model.entries)[9]
    proof = prove(model.store, model.root, [key])
    for i, node in enumerate(proof):
        for position in (0, len(node) // 2, len(node) - 1):
            tampered = bytearray(node)
            tampered[position] ^= 0x01
            forged = proof[:i] + [bytes(tampered)] + proof[i + 1 :]
            with pytest.raises(InvalidProof):
                verify_proof(model.root, forged, key)


def test_proof_of_empty_trie_proves_absence():
    assert verify_proof(EMPTY_ROOT, [], b"key") is None
    assert prove({}, EMPTY_ROOT, [b"key"]) == []
