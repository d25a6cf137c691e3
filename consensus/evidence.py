"""Evidence of equivocation: one validator signing two different votes for the same (height, round, type).

The engine's vote sets detect it and emit `RecordEvidence`; the node includes the evidence in a block and
the staking pallet slashes after `verify_evidence` accepts it. Canonical encoding, so that one pair of votes
has exactly one byte string:

    DuplicateVoteEvidence = SignedVote vote_a ++ SignedVote vote_b,   with encode(vote_a) < encode(vote_b)

The offence is the slot, not the pair: a validator that signs n conflicting votes in one slot yields
n(n-1)/2 pairs, all of which prove one offence. So, as in CometBFT and Substrate's offences pallet, the
offence id that staking punishes once is derived from (offender, height, round, vote type) only:

    offence_id = blake2_256(b"gradchain/offence/duplicate-vote" ++ [u8; 32] offender ++ u64 height
                            ++ u32 round ++ u8 type)
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.primitives.codec import DecodeError, Reader, decode_all, u8, u32, u64
from chain.primitives.hashing import blake2_256
from consensus.types import SignedVote
from consensus.validators import ValidatorSet

OFFENCE_DOMAIN = b"gradchain/offence/duplicate-vote"


class EvidenceError(ValueError):
    """Evidence that must not lead to a slash."""


class MalformedEvidence(EvidenceError):
    """The evidence bytes do not decode, or are not in canonical order."""


class DuplicateVotes(EvidenceError):
    """Both votes are the same vote: re-sending a vote is not an offence."""


class NotConflicting(EvidenceError):
    """The votes differ in height, round or type, or vote for the same block: no equivocation."""


class WrongSigner(EvidenceError):
    """The votes are by different validators, by a key outside the height's set, or carry a bad signature."""


class StaleEvidence(EvidenceError):
    """The offence is older than the evidence window (or claims a height that has not been reached)."""


@dataclass(frozen=True, slots=True)
class DuplicateVoteEvidence:
    vote_a: SignedVote
    vote_b: SignedVote

    @classmethod
    def of(cls, one: SignedVote, other: SignedVote) -> DuplicateVoteEvidence:
        """The canonical evidence for two votes, whatever order they were seen in."""
        a, b = sorted((one, other), key=SignedVote.encode)
        return cls(a, b)

    @property
    def height(self) -> int:
        return self.vote_a.vote.height

    @property
    def offender(self) -> bytes:
        return self.vote_a.validator

    def encode(self) -> bytes:
        return self.vote_a.encode() + self.vote_b.encode()

    @property
    def offence_id(self) -> bytes:
        """Names the offence (offender, height, round, vote type), the same for every pair of votes in the slot."""
        vote = self.vote_a.vote
        return blake2_256(OFFENCE_DOMAIN + self.offender + u64(vote.height) + u32(vote.round) + u8(vote.type))

    @classmethod
    def decode(cls, data: bytes) -> DuplicateVoteEvidence:
        """Parse evidence bytes; malformed input raises `DecodeError` and nothing else."""

        def read(r: Reader) -> DuplicateVoteEvidence:
            return cls(SignedVote.decode_from(r), SignedVote.decode_from(r))

        return decode_all(data, read)


def verify_evidence(
    evidence: DuplicateVoteEvidence | bytes,
    validator_set: ValidatorSet,
    genesis_hash: bytes,
    current_height: int,
    max_age: int,
) -> DuplicateVoteEvidence:
    """Accept evidence only if it proves that one member of `validator_set` equivocated within `max_age` blocks.

    `validator_set` must be the set of the offence's height. Returns the decoded evidence; raises a member
    of `EvidenceError` naming the first fault found.
    """
    if isinstance(evidence, bytes | bytearray | memoryview):
        try:
            evidence = DuplicateVoteEvidence.decode(bytes(evidence))
        except DecodeError as e:
            raise MalformedEvidence(f"evidence does not decode: {e}") from None
    a, b = evidence.vote_a, evidence.vote_b
    if a == b:
        raise DuplicateVotes(
            f"both votes are the same {a.vote.type.name} of validator 0x{a.validator.hex()} "
            f"at height {a.vote.height} round {a.vote.round}"
        )
    if a.encode() > b.encode():
        raise MalformedEvidence("the two votes are not in canonical (ascending encoding) order")
    va, vb = a.vote, b.vote
    if (va.type, va.height, va.round) != (vb.type, vb.height, vb.round):
        raise NotConflicting(
            f"the votes are for different slots: {va.type.name} h{va.height} r{va.round} "
            f"and {vb.type.name} h{vb.height} r{vb.round}"
        )
    if va.block_hash == vb.block_hash:
        raise NotConflicting(f"both votes are for the same block at height {va.height} round {va.round}")
    if a.validator != b.validator:
        raise WrongSigner(
            f"the votes are by different validators: 0x{a.validator.hex()} and 0x{b.validator.hex()}"
        )
    if a.validator not in validator_set:
        raise WrongSigner(f"0x{a.validator.hex()} is not in the validator set of height {va.height}")
    for which, signed in (("first", a), ("second", b)):
        if not signed.verify(genesis_hash):
            raise WrongSigner(f"the {which} vote's signature is not by 0x{a.validator.hex()} on this chain")
    if va.height > current_height:
        raise StaleEvidence(f"the offence at height {va.height} is above the current height {current_height}")
    if current_height - va.height > max_age:
        raise StaleEvidence(
            f"the offence at height {va.height} is {current_height - va.height} blocks old; "
            f"evidence is accepted for {max_age} blocks"
        )
    return evidence
