"""The step-hash commitment shared by the market pallet and the workers (pure Python, no torch).

A solver that trains for T steps commits to the Merkle root over its per-step state hashes H[0..T]
(T + 1 leaves; leaf i is the 32-byte H[i], H[0] the hash of the initial state). Everything the two sides
must agree on to play the dispute game lives here, so the pallet and the workers cannot drift apart:

- Checkpoints. The state at step 0 follows from the spec alone, so it is never uploaded. The solver uploads
  the full state at steps k, 2k, ... and at T (when T is not a multiple of k): `checkpoint_count(T, k)` =
  ceil(T / k) blobs. Segment j is the step interval [j*k, min((j+1)*k, T)], replayed from the state at
  its start (the spec's initial state for j = 0, else checkpoint j - 1); there are as many segments as
  checkpoints.
- Bisection. Both parties agree on H[lo] and disagree on H[hi]. The solver reveals H[mid] with
  mid = (lo + hi) // 2; if the challenger agrees, the interval becomes [mid, hi], else [lo, mid]. It ends
  when hi = lo + 1: one step, which the referees recompute. An interval of length L takes at most
  ceil(log2 L) rounds (`bisection_rounds`).
- Sampling. A verifier replays q distinct segments drawn from randomness the solver could not know when it
  committed (`sample_segments`).
- The referees' fault vote (`FAULT_VOTE`): the state at s cannot be recomputed from, or an artifact or
  dataset fails its check.
- The evaluation (`Evaluation`): the final model's figures on the dataset's held-out split, as the solver
  commits them and the referees recompute them, compared by `evaluation_hash` (the value an EVALUATION
  dispute is decided on).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from chain.primitives.codec import encode_compact, u32, u64
from chain.primitives.hashing import blake2_256
from chain.primitives.merkle import HASH_LEN, MerkleTree, verify_merkle_proof

# A referee's vote that the state at s cannot be recomputed from (the published blob does not hash to the
# agreed H[s], does not load, or stayed unavailable for half the vote period), or that a disputed artifact
# or dataset fails its check. It is never a real H[s+1] nor an artifact's hash, so a quorum of it decides
# against the solver (or the submitter). In a step dispute it shows that the solver defaulted on its state
# publication, not that a step is wrong, so the pallet slashes the solver but not a verifier that passed
# the segment.
FAULT_VOTE = blake2_256(b"gradchain/referee/unusable-state")


class CommitmentError(ValueError):
    """A commitment question that has no answer: bad step counts, intervals, or hash sizes."""


def _check_steps(steps: int, interval: int | None = None) -> None:
    if type(steps) is not int or steps < 1:
        raise CommitmentError(f"a training run has at least one step, got steps={steps!r}")
    if interval is not None and (type(interval) is not int or interval < 1):
        raise CommitmentError(f"the checkpoint interval must be a positive integer, got {interval!r}")


def step_root(hashes: Sequence[bytes]) -> bytes:
    """The committed root over H[0..T]."""
    return StepCommitment(hashes).root


class StepCommitment:
    """A solver's tree over H[0..T], built once and opened for every step the dispute game asks about."""

    __slots__ = ("tree", "hashes")

    def __init__(self, hashes: Sequence[bytes]):
        if len(hashes) < 2:
            raise CommitmentError(f"a commitment covers H[0..T] with T >= 1, got {len(hashes)} hashes")
        for i, h in enumerate(hashes):
            if not isinstance(h, bytes) or len(h) != HASH_LEN:
                raise CommitmentError(f"H[{i}] must be {HASH_LEN} bytes, got {h!r:.80}")
        self.hashes = list(hashes)
        self.tree = MerkleTree(self.hashes)

    @property
    def steps(self) -> int:
        return len(self.hashes) - 1

    @property
    def root(self) -> bytes:
        return self.tree.root

    def open(self, step: int) -> tuple[bytes, list[bytes]]:
        """H[step] and its Merkle proof, as the solver reveals them during bisection."""
        if not 0 <= step <= self.steps:
            raise CommitmentError(f"step {step} is outside the committed run 0..{self.steps}")
        return self.hashes[step], self.tree.proof(step)


def verify_step_hash(root: bytes, steps: int, step: int, step_hash: bytes, proof: Sequence[bytes]) -> bool:
    """Whether H[step] = step_hash under a root committed for a run of `steps` steps; False on garbage."""
    if type(steps) is not int or steps < 1 or not isinstance(step_hash, bytes) or len(step_hash) != HASH_LEN:
        return False
    return verify_merkle_proof(
        root, step, step_hash, list(proof) if isinstance(proof, tuple) else proof, steps + 1
    )


def checkpoint_count(steps: int, interval: int) -> int:
    _check_steps(steps, interval)
    return -(-steps // interval)


def checkpoint_steps(steps: int, interval: int) -> list[int]:
    """The steps whose full state the solver uploads: k, 2k, ... and T; the state at 0 is never uploaded."""
    _check_steps(steps, interval)
    return [min(j * interval, steps) for j in range(1, checkpoint_count(steps, interval) + 1)]


def segment_bounds(steps: int, interval: int, segment: int) -> tuple[int, int]:
    """Segment j's step interval [j*k, min((j+1)*k, T)]."""
    count = checkpoint_count(steps, interval)
    if type(segment) is not int or not 0 <= segment < count:
        raise CommitmentError(f"segment {segment!r} is outside 0..{count - 1} for T={steps}, k={interval}")
    return segment * interval, min((segment + 1) * interval, steps)


def bisection_rounds(length: int) -> int:
    """ceil(log2 length): the most rounds bisection needs to narrow `length` steps down to one."""
    if type(length) is not int or length < 1:
        raise CommitmentError(f"a disputed interval has at least one step, got length={length!r}")
    return (length - 1).bit_length()


@dataclass(frozen=True, slots=True)
class Bisection:
    """The dispute game's interval: H[lo] is agreed by both sides, H[hi] is disputed."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        if type(self.lo) is not int or type(self.hi) is not int or not 0 <= self.lo < self.hi:
            raise CommitmentError(f"a bisection interval needs 0 <= lo < hi, got [{self.lo!r}, {self.hi!r}]")

    @property
    def done(self) -> bool:
        """One step left: the referees recompute H[lo + 1] from the state at lo."""
        return self.hi - self.lo == 1

    @property
    def mid(self) -> int:
        if self.done:
            raise CommitmentError(f"interval [{self.lo}, {self.hi}] is a single step; there is no midpoint")
        return (self.lo + self.hi) // 2

    @property
    def rounds_left(self) -> int:
        return bisection_rounds(self.hi - self.lo)

    def next(self, challenger_agrees: bool) -> Bisection:
        """The interval after the challenger's answer about the revealed H[mid]."""
        mid = self.mid
        return Bisection(mid, self.hi) if challenger_agrees else Bisection(self.lo, mid)


def sample_segments(randomness: bytes, segment_count: int, q: int) -> list[int]:
    """q distinct segment indices (sorted), derived only from `randomness`, for a verifier to replay.

    Draws are blake2_256(b"gradchain/sample" ++ randomness ++ u32(counter)) read as a u64 and reduced by
    rejection sampling, so every segment is equally likely and the pallet and workers agree bit for bit.
    """
    if not isinstance(randomness, bytes):
        raise CommitmentError("sampling randomness must be bytes")
    if type(segment_count) is not int or segment_count < 1 or type(q) is not int or q < 0:
        raise CommitmentError(f"cannot sample q={q!r} of segment_count={segment_count!r} segments")
    q = min(q, segment_count)
    limit = (1 << 64) - (1 << 64) % segment_count
    chosen: set[int] = set()
    counter = 0
    while len(chosen) < q:
        draw = int.from_bytes(blake2_256(b"gradchain/sample" + randomness + u32(counter))[:8], "little")
        counter += 1
        if draw < limit:
            chosen.add(draw % segment_count)
    return sorted(chosen)


def encode_step_hashes(hashes: Sequence[bytes]) -> bytes:
    """H[0..T] as a SCALE `Vec<[u8; 32]>`, the form a solver publishes its full hash list in."""
    return encode_compact(len(hashes)) + b"".join(hashes)


EVALUATION_MAGIC = b"gradchain/evaluation/v1"


@dataclass(frozen=True)
class Evaluation:
    """The final model's figures on the held-out split, as integers so that they mean the same bits on
    every machine: `loss_bits` is the IEEE-754 binary64 pattern of the mean cross-entropy, `correct` the
    number of test examples whose argmax prediction is the label, `count` the number of test examples.
    How they are computed (the order of every sum) is `compute_market.worker.evaluation`."""

    loss_bits: int
    correct: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.loss_bits < 1 << 64:
            raise CommitmentError(f"loss_bits {self.loss_bits!r} is not a u64 bit pattern")
        if not 0 <= self.correct <= self.count < 1 << 32:
            raise CommitmentError(
                f"{self.correct!r} correct of {self.count!r} test examples is not a valid u32 count pair"
            )

    @property
    def loss(self) -> float:
        return struct.unpack("<d", struct.pack("<Q", self.loss_bits))[0]

    @property
    def accuracy(self) -> float:
        return self.correct / self.count if self.count else 0.0

    @property
    def perplexity(self) -> float:
        """exp(loss), for display only (never committed: `exp` is not an IEEE-754 operation)."""
        try:
            return math.exp(self.loss)
        except OverflowError:
            return math.inf

    def encode(self) -> bytes:
        """SCALE `(u64, u32, u32)`: loss_bits, correct, count."""
        return u64(self.loss_bits) + u32(self.correct) + u32(self.count)

    @property
    def hash(self) -> bytes:
        """blake2-256(b"gradchain/evaluation/v1" ++ encode()): what referees vote in an EVALUATION dispute."""
        return evaluation_hash(self)


def evaluation_hash(evaluation: Evaluation) -> bytes:
    return blake2_256(EVALUATION_MAGIC + evaluation.encode())


__all__ = [
    "Bisection",
    "CommitmentError",
    "Evaluation",
    "StepCommitment",
    "bisection_rounds",
    "checkpoint_count",
    "checkpoint_steps",
    "encode_step_hashes",
    "evaluation_hash",
    "sample_segments",
    "segment_bounds",
    "step_root",
    "verify_step_hash",
]
