"""Substrate's hash functions: blake2b-256/128 and xxhash64-based twox128/twox64, plus the storage hashers."""

from __future__ import annotations

import hashlib

import xxhash

H256_LEN = 32


def blake2_256(data: bytes) -> bytes:
    """The chain's hash: blocks, extrinsics, trie nodes, signing payloads over 256 bytes."""
    return hashlib.blake2b(data, digest_size=32).digest()


def blake2_128(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def twox64(data: bytes) -> bytes:
    """xxhash64 with seed 0, little-endian, as Substrate's `twox_64`."""
    return xxhash.xxh64_intdigest(data, seed=0).to_bytes(8, "little")


def twox128(data: bytes) -> bytes:
    """Two xxhash64 rounds (seeds 0 and 1) concatenated little-endian, as Substrate's `twox_128`."""
    return xxhash.xxh64_intdigest(data, seed=0).to_bytes(8, "little") + xxhash.xxh64_intdigest(
        data, seed=1
    ).to_bytes(8, "little")


def blake2_128_concat(key: bytes) -> bytes:
    """Storage hasher `Blake2_128Concat`: hashed for spread, with the key kept so it can be iterated."""
    return blake2_128(key) + key


def twox64_concat(key: bytes) -> bytes:
    """Storage hasher `Twox64Concat`: fast, for keys an attacker cannot choose."""
    return twox64(key) + key


def identity(key: bytes) -> bytes:
    return key


STORAGE_HASHERS = {
    "Blake2_128Concat": blake2_128_concat,
    "Twox64Concat": twox64_concat,
    "Identity": identity,
    "Blake2_128": blake2_128,
    "Blake2_256": blake2_256,
    "Twox128": twox128,
}

# The number of bytes each hasher prepends before the raw key, so a key can be read back from a storage key.
HASHER_PREFIX_LEN = {"Blake2_128Concat": 16, "Twox64Concat": 8, "Identity": 0}
