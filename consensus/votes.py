"""Vote bookkeeping for one height: per-round prevote and precommit sets with stake tallies.

The vote set counts at most one vote per validator per (round, type). A second, different vote from the
same validator for the same slot is equivocation: it is not counted (so a double-signer cannot be counted
twice towards a quorum) and is returned as `DuplicateVoteEvidence`, once per offending slot.

Signatures and set membership are checked by the caller before `add`, so the tallies here trust their
input; that keeps verification in one place (the engine's edge) and lets the node verify in a batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from consensus.evidence import DuplicateVoteEvidence
from consensus.types import SignedVote, VoteType
from consensus.validators import ValidatorSet

NIL = None


@dataclass
class VoteTally:
    """All votes of one type in one round, and the stake behind each block hash (None = nil)."""

    votes: dict[bytes, SignedVote] = field(default_factory=dict)
    stake_for: dict[bytes | None, int] = field(default_factory=dict)
    stake_total: int = 0
    equivocators: set[bytes] = field(default_factory=set)


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
        previous = t.votes.get(signed.validator)
        if previous is not None:
            if previous.vote == signed.vote or signed.validator in t.equivocators:
                return AddResult(False)
            t.equivocators.add(signed.validator)
            return AddResult(False, DuplicateVoteEvidence.of(previous, signed))
        t.votes[signed.validator] = signed
        t.stake_for[vote.block_hash] = t.stake_for.get(vote.block_hash, 0) + stake
        t.stake_total += stake
        self.note_participant(vote.round, signed.validator)
        return AddResult(True)

    def note_participant(self, round_: int, validator: bytes) -> None:
        """Remember that `validator` sent some message (vote or proposal) in `round_`."""
        self._participants.setdefault(round_, {})[validator] = self.validator_set.stake_of(validator)

    def participation(self, round_: int) -> int:
        return sum(self._participants.get(round_, {}).values())

    def has(self, signed: SignedVote) -> bool:
        t = self._tallies.get((signed.vote.round, signed.vote.type))
        return t is not None and t.votes.get(signed.validator) == signed

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
        return [v for v in t.votes.values() if v.vote.block_hash == block_hash]

    def own_votes(self, validator: bytes) -> Iterator[SignedVote]:
        for t in self._tallies.values():
            v = t.votes.get(validator)
            if v is not None:
                yield v
