"""Known vectors for the hashers and SCALE primitives, checked against scalecodec."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scalecodec.base import RuntimeConfiguration
from scalecodec.type_registry import load_type_registry_preset

from chain.primitives import codec
from chain.primitives.hashing import blake2_128_concat, blake2_256, twox64_concat, twox128

RC = RuntimeConfiguration()
RC.update_type_registry(load_type_registry_preset("legacy"))


def test_twox128_known_vectors():
    assert twox128(b"System").hex() == "26aa394eea5630e07c48ae0c9558cef7"
    assert twox128(b"Account").hex() == "b99d880ec681799c0cf30e8886371da9"
    assert twox128(b"Balances").hex() == "c2261276cc9d1f8598ea4b6a74b15c2f"
    assert twox128(b"TotalIssuance").hex() == "57c875e4cff74148e4628f264b974c80"


def test_system_account_key_for_alice_matches_substrate_layout():
    alice = bytes.fromhex("88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee")
    key = twox128(b"System") + twox128(b"Account") + blake2_128_concat(alice)
    assert key.hex().startswith("26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9")
    assert key.endswith(alice) and len(key) == 32 + 16 + 32


def test_blake2_256_empty_vector():
    assert blake2_256(b"").hex() == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"


def test_twox64_concat_keeps_key():
    assert twox64_concat(b"abc")[8:] == b"abc"


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_compact_matches_scalecodec(n):
    ours = codec.encode_compact(n)
    theirs = RC.create_scale_object("Compact<u128>").encode(n)
    assert ours == theirs.data
    assert codec.decode_all(ours, codec.Reader.compact) == n


@pytest.mark.parametrize("raw", ["0100", "02000000", "0300000000", "03ffffff3f"])
def test_invalid_noncanonical_compact_rejected(raw):
    with pytest.raises(codec.DecodeError):
        codec.decode_all(bytes.fromhex(raw), codec.Reader.compact)


def test_invalid_length_prefix_beyond_input_rejected_before_allocation():
    huge = codec.encode_compact(2**60) + b"\x00" * 8
    with pytest.raises(codec.DecodeError, match="exceeds"):
        codec.decode_all(huge, codec.Reader.bytes_vec)


def test_invalid_trailing_bytes_rejected():
    with pytest.raises(codec.DecodeError, match="trailing"):
        codec.decode_all(b"\x04\x00", codec.Reader.compact)


@given(st.binary(max_size=40))
def test_bytes_vec_matches_scalecodec(b):
    assert codec.encode_bytes(b) == RC.create_scale_object("Bytes").encode("0x" + b.hex()).data
    assert codec.decode_all(codec.encode_bytes(b), codec.Reader.bytes_vec) == b
