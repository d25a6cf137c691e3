"""Validator sets: who may vote at a height, with what stake, and who proposes in each round.

A validator is its 32-byte Ed25519 public key (its AccountId) with a bonded stake (u128). A set is kept in
one canonical order, ascending by public key, so that every node numbers validators alike: certificates
name signers by that index, and the set's hash commits to keys, stakes and order:

    hash = blake2_256(b"gradchain/validators" ++ Vec<([u8; 32], u128)>)

Which set governs which height (the rule the node wires to the staking pallet): the set elected by the
staking pallet at the end of epoch `e` (in block `e * epoch_length`) is queued for one epoch and governs
every height of epoch `e + 2`, that is heights `(e + 1) * epoch_length + 1 ..= (e + 2) * epoch_length`.
The extra epoch is what lets a BFT node know the set of height h + 2 from the state after block h: it
enters height h + 2 the moment it decides block h + 1, before that block is even written. A change
decided anywhere inside an epoch therefore takes effect at the first height of the second epoch after it,
never mid-epoch. See `activation_height`. A commit certificate is always verified against the set of its
own height.

Proposer rotation is stake-weighted and a pure function of (set, height, round); see `proposer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from chain.primitives.codec import encode_compact, u128
from chain.primitives.crypto import PUBLIC_KEY_LEN
from chain.primitives.hashing import blake2_256

MAX_STAKE = (1 << 128) - 1
VALIDATOR_SET_DOMAIN = b"gradchain/validators"
ROTATION_SLOTS_PER_VALIDATOR = 16
MIN_ROTATION_SLOTS = 1024


class InvalidValidatorSet(ValueError):
    """A validator set that consensus cannot run with (empty, duplicate keys, zero or oversized stake)."""


@dataclass(frozen=True, slots=True)
class Validator:
    public: bytes
    stake: int


def activation_height(decided_at: int, epoch_length: int) -> int:
    """The first height governed by a validator-set change decided in block `decided_at`.

    The election at the end of the epoch containing `decided_at` picks the change up; the elected set is
    queued and activated one epoch later: e.g. with epochs of 100 blocks, a bond in block 150 is elected in
    block 200, activated in block 300, and votes from height 301.
    """
    if epoch_length < 1:
        raise ValueError(f"an epoch is at least one block, got {epoch_length}")
    election_block = -(-decided_at // epoch_length) * epoch_length
    return election_block + epoch_length + 1


@dataclass(frozen=True)
class ValidatorSet:
    """An immutable validator set in canonical order (ascending public key)."""

    validators: tuple[Validator, ...]
    _index: dict[bytes, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.validators:
            raise InvalidValidatorSet("a validator set needs at least one validator")
        ordered = tuple(sorted(self.validators, key=lambda v: v.public))
        object.__setattr__(self, "validators", ordered)
        index: dict[bytes, int] = {}
        for i, v in enumerate(ordered):
            if len(v.public) != PUBLIC_KEY_LEN:
                raise InvalidValidatorSet(f"validator {i} has a {len(v.public)}-byte key; keys are 32 bytes")
            if v.public in index:
                raise InvalidValidatorSet(f"validator 0x{v.public.hex()} appears twice")
            if not 0 < v.stake <= MAX_STAKE:
                raise InvalidValidatorSet(
                    f"validator 0x{v.public.hex()} has stake {v.stake}; it must be in 1..2^128-1"
                )
            index[v.public] = i
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, members: Iterable[tuple[bytes, int]]) -> ValidatorSet:
        return cls(tuple(Validator(bytes(pk), int(stake)) for pk, stake in members))

    def __len__(self) -> int:
        return len(self.validators)

    def __contains__(self, public: object) -> bool:
        return public in self._index

    def index_of(self, public: bytes) -> int | None:
        return self._index.get(public)

    def stake_of(self, public: bytes) -> int:
        i = self._index.get(public)
        return 0 if i is None else self.validators[i].stake

    @cached_property
    def total_stake(self) -> int:
        return sum(v.stake for v in self.validators)

    def is_quorum(self, stake: int) -> bool:
        """More than 2/3 of the total stake: the threshold for polkas and commits."""
        return 3 * stake > 2 * self.total_stake

    def exceeds_one_third(self, stake: int) -> bool:
        """More than 1/3 of the stake: at least one honest validator is among them (round skip)."""
        return 3 * stake > self.total_stake

    def encode(self) -> bytes:
        return encode_compact(len(self.validators)) + b"".join(
            v.public + u128(v.stake) for v in self.validators
        )

    @cached_property
    def hash(self) -> bytes:
        return blake2_256(VALIDATOR_SET_DOMAIN + self.encode())

    @cached_property
    def _rotation(self) -> tuple[int, ...]:
        """One cycle of smooth weighted round-robin over stakes scaled to a fixed number of slots.

        This is Tendermint's proposer-priority algorithm run once over a cycle whose length does not depend
        on how large the u128 stakes are: each validator gets at least one slot, the rest in proportion to
        stake, and the round-robin spreads each validator's slots evenly over the cycle.
        """
        n = len(self.validators)
        slots = max(MIN_ROTATION_SLOTS, ROTATION_SLOTS_PER_VALIDATOR * n)
        total = self.total_stake
        weights = [max(1, v.stake * slots // total) for v in self.validators]
        cycle = sum(weights)
        priority = [0] * n
        order = []
        for _ in range(cycle):
            for i in range(n):
                priority[i] += weights[i]
            best = max(range(n), key=lambda i: (priority[i], -i))
            priority[best] -= cycle
            order.append(best)
        return tuple(order)

    def proposer_index(self, height: int, round_: int) -> int:
        """The proposer of (height, round): position `height + round` in the stake-weighted cycle.

        Consecutive rounds of one height walk the cycle, so a silent proposer is replaced in the next round,
        and over any cycle each validator proposes in proportion to its stake. The offset by the set's hash
        keeps different sets from starting at the same member.
        """
        rotation = self._rotation
        offset = int.from_bytes(self.hash[:8], "little")
        return rotation[(offset + height + round_) % len(rotation)]

    def proposer(self, height: int, round_: int) -> bytes:
        return self.validators[self.proposer_index(height, round_)].public


ValidatorSetProvider = Callable[[int], ValidatorSet]
"""Height -> the set that governs it (see the module docstring for the epoch rule)."""
