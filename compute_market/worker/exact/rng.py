"""Counter-based random numbers for exact mode: integer arithmetic only, so every machine draws the same.

Draw i of a stream is splitmix64(key + i * GOLDEN), with the key derived from the spec's seed and a
purpose by blake2 (`stream_key`). Uniform floats take the top 24 bits, so u = k * 2^-24 is exact in
float32, and a value in [lo, hi) is the float32 `u * (hi - lo) + lo`: one rounded multiply, then one
rounded add, done by numpy as two separate operations (never fused). Permutations sort the draws
(stable sort of distinct-with-overwhelming-probability 64-bit integers), so no float is involved at all.
torch's generators are not used: their float paths differ between CPU dispatch levels.
"""

from __future__ import annotations

import numpy as np

from chain.primitives.hashing import blake2_256

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def stream_key(seed: int, purpose: str, index: int = 0) -> int:
    material = (
        b"gradchain/rng/v1/" + purpose.encode() + seed.to_bytes(8, "little") + index.to_bytes(8, "little")
    )
    return int.from_bytes(blake2_256(material)[:8], "little")


def draws(key: int, n: int) -> np.ndarray:
    """n uint64 draws of the stream `key` (splitmix64 over a counter; numpy's uint64 wraps mod 2^64)."""
    with np.errstate(over="ignore"):
        z = np.uint64(key) + np.arange(1, n + 1, dtype=np.uint64) * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def uniform(key: int, n: int, lo: float, hi: float) -> np.ndarray:
    """n float32 values in [lo, hi)."""
    u = (draws(key, n) >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
    return u * np.float32(hi - lo) + np.float32(lo)


def normal_approx(key: int, n: int) -> np.ndarray:
    """n float32 values with mean 0 and variance 1: (u1 + u2 + u3 + u4 - 2) * sqrt(3) (Irwin-Hall), summed
    in that order; no logarithm or cosine involved."""
    u = uniform(key, 4 * n, 0.0, 1.0).reshape(4, n)
    s = ((u[0] + u[1]) + u[2]) + u[3]
    return (s - np.float32(2.0)) * np.float32(np.sqrt(3.0))


def integers(key: int, n: int, low: int, high: int) -> np.ndarray:
    """n int64 values in [low, high) (modulo reduction of 64-bit draws; the bias is below 2^-40)."""
    span = np.uint64(high - low)
    return (draws(key, n) % span).astype(np.int64) + np.int64(low)


def permutation(key: int, n: int) -> np.ndarray:
    """A permutation of 0..n-1 as int64: the stable argsort of n draws."""
    return np.argsort(draws(key, n), kind="stable").astype(np.int64)
