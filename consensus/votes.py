"""Vote bookkeeping for one height: per-round prevote and precommit sets with stake tallies.

A second, different vote from one validator for the same (round, type) is equivocation and is returned
as `DuplicateVoteEvidence`, once per offending slot. The equivocator still counts once towards "more than
2/3 voted at all", and once towards each value it signed (see `VoteTally` for why that is safe and needed).

Signatures and set membership are checked by the caller before `add`, so the tallies here trust their
input; that keeps verification in one place (the engine's edge) and lets the node verify in a batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from consensus.evidence import DuplicateVoteEvidence
from consensus.types import SignedVote, VoteType
from consensus.validators import ValidatorSet

MAX_VALUES_PER_VALIDATOR = 4


@dataclass
class VoteTally:
    """All votes of one type in one round, and the stake behind each block hash (None = nil).

    `votes` holds each validator's first vote and `stake_total` counts each validator once. `by_block`
    also holds an equivocator's later, conflicting votes (at most `MAX_VALUES_PER_VALIDATOR` values each):
    an honest node must be able to see a polka or commit that includes the vote a double-signer sent to
    other peers, or the network can stall on a lock it cannot verify. Counting them is safe: two values
    with more than 2/3 each would need more than 1/3 of the stake to equivocate.
    """

    votes: dict[bytes, SignedVote] = field(default_factory=dict)
    by_block: dict[bytes | None, dict[bytes, SignedVote]] = field(default_factory=dict)
    stake_for: dict[bytes | None, int] = field(default_factory=dict)
    stake_total: int = 0
    values_of: dict[bytes, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AddResult:
    added: bool
    evidence: DuplicateVoteEvidence | None = None


class HeightVoteSet:
    """Prevotes and precommits of every round of one height, for one validator set."""

    def __init__(self, height: int, validator_set: ValidatorSet):
        self.height = height
        self.validator_set = validator_set
        self._tallies: dict[tuple[int, VoteType], VoteTally] = {}
        self._participants: dict[int, dict[bytes, int]] = {}

    def tally(self, round_: int, vote_type: VoteType) -> VoteTally:
        key = (round_, vote_type)
        t = self._tallies.get(key)
        if t is None:
            t = self._tallies[key] = VoteTally()
        return t

    def add(self, signed: SignedVote) -> AddResult:
        """Count a verified vote of this height; report equivocation instead of counting it twice."""
        vote = signed.vote
        if vote.height != self.height:
            raise ValueError(f"a vote for height {vote.height} given to the vote set of height {self.height}")
        stake = self.validator_set.stake_of(signed.validator)
        if stake == 0:
            raise ValueError(f"0x{signed.validator.hex()} is not a validator at height {self.height}")
        t = self.tally(vote.round, vote.type)
        voter = signed.validator
        same_value = t.by_block.get(vote.block_hash)
        if same_value is not None and voter in same_value:
            return AddResult(False)
        previous = t.votes.get(voter)
        evidence = None
        if previous is None:
            t.votes[voter] = signed
            t.stake_total += stake
        else:
            if t.values_of[voter] == 1:
                evidence = DuplicateVoteEvidence.of(previous, signed)
            if t.values_of[voter] >= MAX_VALUES_PER_VALIDATOR:
                return AddResult(False, evidence)
        t.values_of[voter] = t.values_of.get(voter, 0) + 1
        t.by_block.setdefault(vote.block_hash, {})[voter] = signed
        t.stake_for[vote.block_hash] = t.stake_for.get(vote.block_hash, 0) + stake
        self.note_participant(vote.round, voter)
        return AddResult(True, evidence)

    def note_participant(self, round_: int, validator: bytes) -> None:
        """Remember that `validator` sent some message (vote or proposal) in `round_`."""
        self._participants.setdefault(round_, {})[validator] = self.validator_set.stake_of(validator)

    def participation(self, round_: int) -> int:
        return sum(self._participants.get(round_, {}).values())

    def has(self, signed: SignedVote) -> bool:
        t = self._tallies.get((signed.vote.round, signed.vote.type))
        if t is None:
            return False
        same_value = t.by_block.get(signed.vote.block_hash)
        return same_value is not None and signed.validator in same_value

    def quorum_block(self, round_: int, vote_type: VoteType) -> tuple[bool, bytes | None]:
        """(True, hash-or-None) when more than 2/3 of the stake voted for one value, else (False, None)."""
        t = self._tallies.get((round_, vote_type))
        if t is None:
            return False, None
        for value, stake in t.stake_for.items():
            if self.validator_set.is_quorum(stake):
                return True, value
        return False, None

    def quorum_for(self, round_: int, vote_type: VoteType, block_hash: bytes | None) -> bool:
        t = self._tallies.get((round_, vote_type))
        return t is not None and self.validator_set.is_quorum(t.stake_for.get(block_hash, 0))

    def quorum_any(self, round_: int, vote_type: VoteType) -> bool:
        """More than 2/3 of the stake voted in this round, for anything (the paper's `2f+1 <PREVOTE, *>`)."""
        t = self._tallies.get((round_, vote_type))
        return t is not None and self.validator_set.is_quorum(t.stake_total)

    def votes_for(self, round_: int, vote_type: VoteType, block_hash: bytes | None) -> list[SignedVote]:
        t = self._tallies.get((round_, vote_type))
        if t is None:
            return []
        return list(t.by_block.get(block_hash, {}).values())

    def own_votes(self, validator: bytes) -> Iterator[SignedVote]:
        for t in self._tallies.values():
            v = t.votes.get(validator)
            if v is not None:
                yield v
