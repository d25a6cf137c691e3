"""The signer guard: the last line of defence against double signing, also across crashes.

Before any signature leaves the process, the guard compares the (height, round, step) to sign with the
last one it signed, persisted in a small file (`AtomicFile`: temp + fsync + rename):

- strictly higher: persist the new (height, round, step, payload, signature) first, then release it;
- equal, and the payload is byte-identical: release the stored signature again (a re-send after a crash);
- anything else (lower, or equal with a different payload): refuse, returning None.

Because the state is persisted before the signature is released, a crash at any instant leaves the guard
at least as far as anything that was ever sent. The engine treats a refusal as "already voted here".

State file: u64 height ++ u32 round ++ u8 step ++ Vec<u8> payload ++ [u8; 64] signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from chain.primitives.codec import DecodeError, Reader, decode_all, encode_bytes, u8, u32, u64
from chain.primitives.crypto import SIGNATURE_LEN, Keypair
from consensus.storage import MemoryValue, ValueStore
from consensus.types import Proposal, SignedProposal, SignedVote, Step, Vote


class CorruptGuardState(ValueError):
    """The guard's state file exists but does not decode: refuse to sign rather than guess."""


@dataclass(frozen=True, slots=True)
class LastSigned:
    height: int
    round: int
    step: Step
    payload: bytes
    signature: bytes

    def encode(self) -> bytes:
        return (
            u64(self.height) + u32(self.round) + u8(self.step) + encode_bytes(self.payload) + self.signature
        )

    @classmethod
    def decode(cls, data: bytes) -> LastSigned:
        def read(r: Reader) -> LastSigned:
            height, round_, tag = r.u64(), r.u32(), r.u8()
            if tag > Step.PRECOMMIT:
                raise DecodeError(f"unknown step {tag}")
            return cls(height, round_, Step(tag), r.bytes_vec(1 << 20), r.read(SIGNATURE_LEN))

        return decode_all(data, read)


class SignerGuard:
    """Signs votes and proposals for one key, never twice for one (height, round, step)."""

    def __init__(self, keypair: Keypair, genesis_hash: bytes, store: ValueStore | None = None):
        self.keypair = keypair
        self.genesis_hash = genesis_hash
        self.store = store if store is not None else MemoryValue()
        raw = self.store.load()
        try:
            self.last = None if raw is None else LastSigned.decode(raw)
        except DecodeError as e:
            raise CorruptGuardState(
                f"the signer guard state does not decode ({e}); refusing to sign"
            ) from None

    @property
    def public(self) -> bytes:
        return self.keypair.public

    def _authorize(self, height: int, round_: int, step: Step, payload: bytes) -> bytes | None:
        last = self.last
        if last is not None:
            position, last_position = (height, round_, step), (last.height, last.round, last.step)
            if position < last_position:
                return None
            if position == last_position:
                return last.signature if payload == last.payload else None
        signature = self.keypair.sign(payload)
        record = LastSigned(height, round_, step, payload, signature)
        self.store.store(record.encode())
        self.last = record
        return signature

    def sign_vote(self, vote: Vote) -> SignedVote | None:
        sig = self._authorize(vote.height, vote.round, vote.step, vote.sign_bytes(self.genesis_hash))
        return None if sig is None else SignedVote(vote, self.keypair.public, sig)

    def sign_proposal(self, proposal: Proposal, block: bytes) -> SignedProposal | None:
        sig = self._authorize(
            proposal.height, proposal.round, Step.PROPOSE, proposal.sign_bytes(self.genesis_hash)
        )
        return None if sig is None else SignedProposal(proposal, self.keypair.public, sig, block)
