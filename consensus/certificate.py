"""Commit certificates: the precommits that finalized a block, stored as its justification.

A certificate holds precommits of one round for one block, signed by more than 2/3 of the stake of the
block height's validator set. Signers are named by their index in the set's canonical order, so the
validators' keys are not repeated in every block:

    CommitCertificate = u64 height ++ u32 round ++ [u8; 32] block_hash
                        ++ Vec<(u32 validator_index, [u8; 64] signature)>     (indices strictly ascending)

Every signature is over the precommit payload of `consensus.types` (domain tag, genesis hash, PRECOMMIT,
height, round, Some(block_hash)). `verify_certificate` is the only check: block import and sync both use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chain.primitives.codec import Reader, decode_all, encode_compact, u32, u64
from chain.primitives.crypto import SIGNATURE_LEN, verify
from consensus.types import HASH_LEN, SignedVote, Vote, VoteType
from consensus.validators import ValidatorSet

MAX_CERTIFICATE_SIGNERS = 1 << 16


class CertificateError(ValueError):
    """A commit certificate that does not prove the block final."""


class WrongBlock(CertificateError):
    """The certificate is for another block or another height."""


class UnknownValidator(CertificateError):
    """A signer index outside the height's validator set."""


class DuplicateSigner(CertificateError):
    """One validator index appears twice (or out of order)."""


class BadSignature(CertificateError):
    """A signature does not verify as that validator's precommit on this chain."""


class InsufficientStake(CertificateError):
    """The signers hold no more than 2/3 of the height's stake."""


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    height: int
    round: int
    block_hash: bytes
    signatures: tuple[tuple[int, bytes], ...]

    @classmethod
    def from_precommits(
        cls,
        height: int,
        round_: int,
        block_hash: bytes,
        precommits: Iterable[SignedVote],
        validator_set: ValidatorSet,
    ) -> CommitCertificate:
        """Gather precommits for `block_hash` into a certificate (the engine does this when it commits)."""
        sigs = {}
        for pc in precommits:
            v = pc.vote
            if (v.type, v.height, v.round, v.block_hash) != (VoteType.PRECOMMIT, height, round_, block_hash):
                raise ValueError(f"not a precommit for the block at height {height} round {round_}")
            index = validator_set.index_of(pc.validator)
            if index is None:
                raise ValueError(f"0x{pc.validator.hex()} is not in the validator set of height {height}")
            sigs[index] = pc.signature
        return cls(height, round_, block_hash, tuple(sorted(sigs.items())))

    def encode(self) -> bytes:
        return (
            u64(self.height)
            + u32(self.round)
            + self.block_hash
            + encode_compact(len(self.signatures))
            + b"".join(u32(i) + sig for i, sig in self.signatures)
        )

    @classmethod
    def decode(cls, data: bytes) -> CommitCertificate:
        """Parse certificate bytes; malformed input raises `DecodeError` and nothing else."""

        def read(r: Reader) -> CommitCertificate:
            height, round_, block_hash = r.u64(), r.u32(), r.read(HASH_LEN)
            sigs = r.vec(
                lambda rr: (rr.u32(), rr.read(SIGNATURE_LEN)),
                min_item_size=4 + SIGNATURE_LEN,
                max_len=MAX_CERTIFICATE_SIGNERS,
            )
            return cls(height, round_, block_hash, tuple(sigs))

        return decode_all(data, read)

    def precommit(self) -> Vote:
        return Vote(VoteType.PRECOMMIT, self.height, self.round, self.block_hash)


def verify_certificate(
    cert: CommitCertificate,
    block_hash: bytes,
    height: int,
    validator_set: ValidatorSet,
    genesis_hash: bytes,
    verify_signature: Callable[[bytes, bytes, bytes], bool] = verify,
) -> None:
    """Raise a `CertificateError` unless `cert` proves `block_hash` final at `height`.

    `validator_set` must be the set of `height` (see `consensus.validators` for the epoch rule). The cheap
    structural checks run before any signature is verified, so a malformed certificate costs no crypto.
    """
    if cert.height != height:
        raise WrongBlock(f"the certificate is for height {cert.height}, the block is at height {height}")
    if cert.block_hash != block_hash:
        raise WrongBlock(f"the certificate commits block 0x{cert.block_hash.hex()}, not 0x{block_hash.hex()}")
    n = len(validator_set)
    stake = 0
    previous = -1
    for index, _ in cert.signatures:
        if index >= n:
            raise UnknownValidator(
                f"signer index {index} is outside the validator set of height {height} ({n} validators)"
            )
        if index <= previous:
            raise DuplicateSigner(
                f"signer index {index} follows index {previous}: indices must be strictly "
                f"ascending, each validator signing once"
            )
        previous = index
        stake += validator_set.validators[index].stake
    if not validator_set.is_quorum(stake):
        raise InsufficientStake(
            f"signers hold {stake} of {validator_set.total_stake} stake at height {height}; "
            f"a commit needs more than 2/3"
        )
    payload = cert.precommit().sign_bytes(genesis_hash)
    for index, sig in cert.signatures:
        public = validator_set.validators[index].public
        if not verify_signature(public, payload, sig):
            raise BadSignature(
                f"the signature of validator {index} (0x{public.hex()}) is not its precommit for "
                f"block 0x{block_hash.hex()} at height {height} round {cert.round}"
            )
