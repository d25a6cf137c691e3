"""The step-hash commitment and the dispute-game helpers the pallet and workers share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.primitives.hashing import blake2_256
from compute_market.commitment import (
    Bisection,
    CommitmentError,
    StepCommitment,
    bisection_rounds,
    checkpoint_count,
    checkpoint_steps,
    sample_segments,
    segment_bounds,
    step_root,
    verify_step_hash,
)


def hashes(steps: int) -> list[bytes]:
    return [blake2_256(i.to_bytes(4, "little")) for i in range(steps + 1)]


def test_commitment_opens_every_step():
    h = hashes(37)
    c = StepCommitment(h)
    assert c.root == step_root(h) and c.steps == 37
    for i in range(38):
        value, proof = c.open(i)
        assert value == h[i]
        assert verify_step_hash(c.root, 37, i, value, proof)
        assert not verify_step_hash(c.root, 36, i, value, proof)
        assert not verify_step_hash(c.root, 37, i, h[(i + 1) % 38], proof)


def test_invalid_commitment_inputs_raise_typed_errors():
    with pytest.raises(CommitmentError, match="T >= 1"):
        StepCommitment(hashes(0))
    with pytest.raises(CommitmentError, match=r"H\[1\] must be 32 bytes"):
        StepCommitment([bytes(32), b"short"])
    with pytest.raises(CommitmentError, match="outside the committed run"):
        StepCommitment(hashes(3)).open(4)


def test_verify_step_hash_never_raises_on_garbage():
    assert not verify_step_hash(b"x", 3, 0, bytes(32), [])
    assert not verify_step_hash(bytes(32), "3", 0, bytes(32), [])
    assert not verify_step_hash(bytes(32), 3, 0, None, None)


@pytest.mark.parametrize(
    ("steps", "k", "expected"),
    [
        (10, 5, [5, 10]),
        (10, 3, [3, 6, 9, 10]),
        (10, 10, [10]),
        (1, 1, [1]),
        (7, 1, [1, 2, 3, 4, 5, 6, 7]),
    ],
)
def test_checkpoints_at_multiples_of_k_and_at_t(steps, k, expected):
    assert checkpoint_steps(steps, k) == expected
    assert checkpoint_count(steps, k) == len(expected)
    bounds = [segment_bounds(steps, k, j) for j in range(len(expected))]
    assert [hi for _, hi in bounds] == expected
    assert [lo for lo, _ in bounds] == [0, *expected[:-1]]


def test_invalid_segment_index_raises():
    with pytest.raises(CommitmentError, match="outside 0..1"):
        segment_bounds(10, 5, 2)


@pytest.mark.parametrize(
    ("length", "rounds"), [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (9, 4), (1000, 10)]
)
def test_bisection_rounds_is_ceil_log2(length, rounds):
    assert bisection_rounds(length) == rounds


@given(st.integers(0, 10_000), st.integers(1, 5000), st.lists(st.booleans(), max_size=20))
def test_bisection_ends_at_one_step_within_ceil_log2_rounds(lo, length, answers):
    game = Bisection(lo, lo + length)
    rounds = 0
    answers = iter(answers)
    while not game.done:
        mid = game.mid
        assert game.lo < mid < game.hi
        nxt = game.next(next(answers, True))
        assert nxt in (Bisection(game.lo, mid), Bisection(mid, game.hi))
        game, rounds = nxt, rounds + 1
    assert game.hi == game.lo + 1
    assert rounds <= bisection_rounds(length)


def test_bisection_worst_case_uses_exactly_ceil_log2_rounds():
    for length in range(1, 130):
        game, rounds = Bisection(0, length), 0
        while not game.done:  # always keep the longer half
            game, rounds = game.next(game.hi - game.mid >= game.mid - game.lo), rounds + 1
        assert rounds == bisection_rounds(length)


def test_invalid_bisection_interval_raises():
    with pytest.raises(CommitmentError):
        Bisection(5, 5)
    with pytest.raises(CommitmentError, match="single step"):
        _ = Bisection(4, 5).mid


@given(st.binary(max_size=64), st.integers(1, 200), st.integers(0, 10))
def test_sample_segments_are_distinct_in_range_and_reproducible(randomness, count, q):
    chosen = sample_segments(randomness, count, q)
    assert chosen == sorted(set(chosen)) == sample_segments(randomness, count, q)
    assert len(chosen) == min(q, count)
    assert all(0 <= j < count for j in chosen)
