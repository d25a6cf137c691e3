"""Consensus messages: votes and proposals, their canonical SCALE encodings and signing payloads.

Every signature a validator makes covers a domain tag and the chain's genesis hash before the vote's own
fields, so a vote signed for one chain (or a vote re-read as a proposal) never verifies anywhere else:

    vote payload     = b"gradchain/vote"     ++ genesis_hash ++ u8 type ++ u64 height ++ u32 round
                       ++ Option<[u8; 32]> block_hash                      (None = a nil vote)
    proposal payload = b"gradchain/proposal" ++ genesis_hash ++ u64 height ++ u32 round ++ [u8; 32] block_hash
                       ++ Option<u32> valid_round                          (None = -1 in the paper)

Wire encodings (what peers gossip and what the WAL stores) carry the fields without the tag and genesis:

    SignedVote     = u8 type ++ u64 height ++ u32 round ++ Option<[u8; 32]> ++ [u8; 32] validator ++ [u8; 64] sig
    SignedProposal = u64 height ++ u32 round ++ [u8; 32] block_hash ++ Option<u32> valid_round
                     ++ [u8; 32] proposer ++ [u8; 64] sig ++ Vec<u8> block

Blocks are opaque to consensus: a proposal carries the block's bytes and its 32-byte hash, which the node's
`block_hash` function (the header hash) must reproduce from the bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from chain.primitives.codec import (
    DecodeError,
    Reader,
    decode_all,
    encode_bytes,
    encode_option,
    u8,
    u32,
    u64,
)
from chain.primitives.crypto import PUBLIC_KEY_LEN, SIGNATURE_LEN, Keypair, verify

HASH_LEN = 32
VOTE_DOMAIN = b"gradchain/vote"
PROPOSAL_DOMAIN = b"gradchain/proposal"
MAX_BLOCK_BYTES = 16 * 1024 * 1024  # a proposal's block is capped before anything is allocated
MAX_ROUND = (1 << 32) - 1


class VoteType(IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2


class Step(IntEnum):
    """A round's steps, in the order the signer guard compares them."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2


STEP_OF_VOTE = {VoteType.PREVOTE: Step.PREVOTE, VoteType.PRECOMMIT: Step.PRECOMMIT}


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_LEN:
        raise ValueError(f"{what} is {HASH_LEN} bytes, got {len(value)}")


@dataclass(frozen=True, slots=True)
class Vote:
    """A prevote or precommit for a block (by hash) or for nil (`block_hash is None`)."""

    type: VoteType
    height: int
    round: int
    block_hash: bytes | None

    def __post_init__(self) -> None:
        if self.block_hash is not None:
            _check_hash(self.block_hash, "a vote's block hash")
        if not 0 <= self.round <= MAX_ROUND:
            raise ValueError(f"round {self.round} is outside u32")

    @property
    def step(self) -> Step:
        return STEP_OF_VOTE[self.type]

    def sign_bytes(self, genesis_hash: bytes) -> bytes:
        return (
            VOTE_DOMAIN
            + genesis_hash
            + u8(self.type)
            + u64(self.height)
            + u32(self.round)
            + encode_option(self.block_hash, bytes)
        )

    def encode(self) -> bytes:
        return u8(self.type) + u64(self.height) + u32(self.round) + encode_option(self.block_hash, bytes)

    @classmethod
    def decode_from(cls, r: Reader) -> Vote:
        tag = r.u8()
        try:
            vote_type = VoteType(tag)
        except ValueError:
            raise DecodeError(f"unknown vote type {tag}") from None
        return cls(vote_type, r.u64(), r.u32(), r.option(lambda rr: rr.read(HASH_LEN)))


@dataclass(frozen=True, slots=True)
class SignedVote:
    """A vote with its validator's public key and Ed25519 signature."""

    vote: Vote
    validator: bytes
    signature: bytes

    @classmethod
    def sign(cls, vote: Vote, keypair: Keypair, genesis_hash: bytes) -> SignedVote:
        return cls(vote, keypair.public, keypair.sign(vote.sign_bytes(genesis_hash)))

    def verify(self, genesis_hash: bytes, check: Callable[[bytes, bytes, bytes], bool] = verify) -> bool:
        """The signature over this chain's vote bytes, checked by `check(public, message, signature)`."""
        return check(self.validator, self.vote.sign_bytes(genesis_hash), self.signature)

    def encode(self) -> bytes:
        return self.vote.encode() + self.validator + self.signature

    @classmethod
    def decode_from(cls, r: Reader) -> SignedVote:
        return cls(Vote.decode_from(r), r.read(PUBLIC_KEY_LEN), r.read(SIGNATURE_LEN))

    @classmethod
    def decode(cls, data: bytes) -> SignedVote:
        """Parse a gossiped vote; any malformed input raises `DecodeError` and nothing else."""
        return decode_all(data, cls.decode_from)


@dataclass(frozen=True, slots=True)
class Proposal:
    """The round's proposer offers `block_hash`; `valid_round` is the round of a polka it saw for it, or -1."""

    height: int
    round: int
    block_hash: bytes
    valid_round: int = -1

    def __post_init__(self) -> None:
        _check_hash(self.block_hash, "a proposal's block hash")
        if not -1 <= self.valid_round < self.round:
            raise ValueError(f"valid round {self.valid_round} must be -1 or below the round {self.round}")

    def sign_bytes(self, genesis_hash: bytes) -> bytes:
        return PROPOSAL_DOMAIN + genesis_hash + self.encode()

    def encode(self) -> bytes:
        valid_round = None if self.valid_round < 0 else self.valid_round
        return u64(self.height) + u32(self.round) + self.block_hash + encode_option(valid_round, u32)

    @classmethod
    def decode_from(cls, r: Reader) -> Proposal:
        height, round_, block_hash = r.u64(), r.u32(), r.read(HASH_LEN)
        valid_round = r.option(Reader.u32)
        valid_round = -1 if valid_round is None else valid_round
        if valid_round >= round_:
            raise DecodeError(f"valid round {valid_round} is not below the proposal's round {round_}")
        return cls(height, round_, block_hash, valid_round)


@dataclass(frozen=True, slots=True)
class SignedProposal:
    """A proposal, its proposer's key and signature, and the proposed block's opaque bytes."""

    proposal: Proposal
    proposer: bytes
    signature: bytes
    block: bytes

    @classmethod
    def sign(cls, proposal: Proposal, block: bytes, keypair: Keypair, genesis_hash: bytes) -> SignedProposal:
        return cls(proposal, keypair.public, keypair.sign(proposal.sign_bytes(genesis_hash)), block)

    def verify(self, genesis_hash: bytes, check: Callable[[bytes, bytes, bytes], bool] = verify) -> bool:
        """The signature over this chain's proposal bytes, checked by `check(public, message, signature)`."""
        return check(self.proposer, self.proposal.sign_bytes(genesis_hash), self.signature)

    def encode(self) -> bytes:
        return self.proposal.encode() + self.proposer + self.signature + encode_bytes(self.block)

    @classmethod
    def decode_from(cls, r: Reader) -> SignedProposal:
        return cls(
            Proposal.decode_from(r),
            r.read(PUBLIC_KEY_LEN),
            r.read(SIGNATURE_LEN),
            r.bytes_vec(MAX_BLOCK_BYTES),
        )

    @classmethod
    def decode(cls, data: bytes) -> SignedProposal:
        return decode_all(data, cls.decode_from)


@dataclass(frozen=True, slots=True)
class Timeout:
    """A timer the engine asked for; it is fed back verbatim through `Engine.on_timeout`."""

    height: int
    round: int
    step: Step

    def encode(self) -> bytes:
        return u64(self.height) + u32(self.round) + u8(self.step)

    @classmethod
    def decode_from(cls, r: Reader) -> Timeout:
        height, round_, tag = r.u64(), r.u32(), r.u8()
        try:
            return cls(height, round_, Step(tag))
        except ValueError:
            raise DecodeError(f"unknown step {tag}") from None
