"""What the engine asks its node to do. The node performs each action in list order.

- `Broadcast(message)`: gossip a signed proposal or vote to all peers (the driver has already written it to
  the WAL).
- `ScheduleTimeout(timeout, delay)`: call `engine.on_timeout(timeout)` after `delay` seconds; stale timeouts
  are harmless, so the node never needs to cancel one.
- `RequestProposal(height, round)`: this validator proposes; build a block on the last committed one and
  answer with `engine.on_block_built(height, round, block_bytes)`.
- `Commit(height, round, block_hash, block, certificate)`: the block is final; import it with the certificate
  as its justification, then consensus is already at `height + 1`.
- `RecordEvidence(evidence)`: a validator equivocated; put the evidence in the pool for a future block.
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus.certificate import CommitCertificate
from consensus.evidence import DuplicateVoteEvidence
from consensus.types import SignedProposal, SignedVote, Timeout


@dataclass(frozen=True, slots=True)
class Broadcast:
    message: SignedProposal | SignedVote


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    timeout: Timeout
    delay: float


@dataclass(frozen=True, slots=True)
class RequestProposal:
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class Commit:
    height: int
    round: int
    block_hash: bytes
    block: bytes
    certificate: CommitCertificate


@dataclass(frozen=True, slots=True)
class RecordEvidence:
    evidence: DuplicateVoteEvidence


Action = Broadcast | ScheduleTimeout | RequestProposal | Commit | RecordEvidence
