"""The evidence pool: equivocation evidence waiting to go into a block, and the check staking runs on it.

Evidence is found by this node's consensus engine (two conflicting votes it received) or gossiped by a peer.
It is kept only if the runtime would accept it as a `Staking.report_equivocation` inherent (verified against
the offence height's validator set, not yet reported), at most `MAX_PENDING_EVIDENCE` pieces, and is passed
on so that any proposer can include it. A proposer puts every pending piece into its block; pieces the
runtime refuses there, and pieces a committed block included, leave the pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from chain.primitives.codec import DecodeError
from chain.primitives.hashing import blake2_256
from consensus.evidence import DuplicateVoteEvidence, verify_evidence
from consensus.validators import ValidatorSet
from runtime import validity as v
from runtime.block_builder import equivocation_inherent

log = logging.getLogger("gradchain.node")

EVIDENCE_MAX_AGE = 64  # heights after which an offence can no longer be reported
MAX_PENDING_EVIDENCE = 64


class EvidencePool:
    def __init__(
        self,
        chain,
        genesis_hash: bytes,
        validator_set_for: Callable[[int], ValidatorSet],  # noqa: ANN001
        gossip: Callable[[bytes, object], None],
    ):
        self.chain = chain
        self.genesis_hash = genesis_hash
        self.validator_set_for = validator_set_for
        self.gossip = gossip  # gossip(evidence, exclude_peer)
        self._pending: dict[bytes, bytes] = {}  # by hash

    def __len__(self) -> int:
        return len(self._pending)

    def pending(self) -> list[bytes]:
        return list(self._pending.values())

    def add(self, evidence: bytes, peer: object | None = None) -> None:
        """Evidence detected here or gossiped: keep and pass on what the runtime would take."""
        key = blake2_256(evidence)
        if key in self._pending or len(self._pending) >= MAX_PENDING_EVIDENCE:
            return
        try:
            self.chain.validate_transaction(equivocation_inherent(evidence), v.TransactionSource.LOCAL)
        except (v.TransactionValidityError, ValueError) as e:  # the runtime's rejections: malformed, stale,
            # already reported (a peer's garbage is ignored, never an exception in its receive loop)
            log.info("ignoring equivocation evidence: %s: %s", type(e).__name__, e)
            return
        self._pending[key] = evidence
        log.warning("equivocation evidence recorded; it goes into the next block proposed")
        self.gossip(evidence, peer)

    def drop(self, evidence: bytes, reason: object) -> None:
        """The runtime refused it in a block being built (already reported by another pair, or stale)."""
        log.info("dropping equivocation evidence: %s", reason)
        self._pending.pop(blake2_256(evidence), None)

    def on_block(self, extrinsics: Iterable[bytes]) -> None:
        if self._pending:
            included = set(extrinsics)
            self._pending = {
                k: e for k, e in self._pending.items() if equivocation_inherent(e) not in included
            }

    def verify(self, evidence: bytes) -> tuple[bytes, bytes]:
        """Staking's hook: check evidence against the validator set of the offence's height (deterministic);
        returns (offender, offence id) or raises ValueError."""
        try:
            decoded = DuplicateVoteEvidence.decode(evidence)
        except DecodeError as e:
            raise ValueError(f"evidence does not decode: {e}") from None
        height = decoded.height
        if height < 1 or height > self.chain.number + 1:
            raise ValueError(f"evidence height {height} is outside the chain (head #{self.chain.number})")
        checked = verify_evidence(
            decoded,
            self.validator_set_for(height),
            self.genesis_hash,
            self.chain.number + 1,
            EVIDENCE_MAX_AGE,
        )
        return checked.offender, checked.offence_id
