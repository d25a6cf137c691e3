"""The node-facing wrapper: an `Engine` whose every input and output goes through the WAL first.

The node owns one `ConsensusDriver` per validator key. It calls the same inputs as on the engine; the
driver appends the input to the WAL, runs the engine, appends every message the engine wants broadcast
(and an END_HEIGHT marker per commit), and only then returns the actions, so a message reaches the network
only after the log knows it was sent.

Restart: `ConsensusDriver.recover(engine, wal)` takes a fresh engine at the node's next height (last
committed + 1) whose signer is the persisted `SignerGuard`, starts it and replays every logged record of
that height or later, own messages included (they are fed back as if received, which restores the votes
whose re-signing the guard now refuses). The actions replay produced are returned for the node to perform
again: re-broadcasts and stale timeouts are harmless, a replayed `Commit` is one the node may already have
stored (it must treat an identical commit as a no-op).

Compaction: the node reports each block it has committed to storage with `block_stored(height)`; every
`WAL_ROTATE_EVERY` heights the driver drops the log's records below the next height, so the log and the
replay after a crash stay bounded. The schedule lives here, beside the log it bounds.
"""

from __future__ import annotations

from consensus.actions import Action, Broadcast, Commit
from consensus.certificate import CommitCertificate
from consensus.engine import Engine
from consensus.types import SignedProposal, SignedVote, Timeout
from consensus.wal import BlockBuilt, Decided, RecordKind, WalRecord, WriteAheadLog

WAL_ROTATE_EVERY = 64  # committed heights between WAL compactions


class ConsensusDriver:
    def __init__(self, engine: Engine, wal: WriteAheadLog):
        self.engine = engine
        self.wal = wal

    def block_stored(self, height: int) -> None:
        """Block `height` is committed to the node's storage: its records are no longer needed for replay,
        and every `WAL_ROTATE_EVERY` heights they are dropped."""
        if height % WAL_ROTATE_EVERY == 0:
            self.wal.compact(height + 1)

    @classmethod
    def recover(cls, engine: Engine, wal: WriteAheadLog) -> tuple[ConsensusDriver, list[Action]]:
        actions = list(engine.start())
        for record in wal.records():
            if record.height >= engine.height:
                actions.extend(_replay(engine, record))
        return cls(engine, wal), actions

    def start(self) -> list[Action]:
        return self._log_outputs(self.engine.start())

    def on_proposal(self, message: SignedProposal) -> list[Action]:
        self.wal.append(RecordKind.RECEIVED_PROPOSAL, message)
        return self._log_outputs(self.engine.on_proposal(message))

    def on_vote(self, message: SignedVote) -> list[Action]:
        self.wal.append(RecordKind.RECEIVED_VOTE, message)
        return self._log_outputs(self.engine.on_vote(message))

    def on_timeout(self, timeout: Timeout) -> list[Action]:
        self.wal.append(RecordKind.TIMEOUT, timeout)
        return self._log_outputs(self.engine.on_timeout(timeout))

    def on_block_built(self, height: int, round_: int, block: bytes) -> list[Action]:
        self.wal.append(RecordKind.BLOCK_BUILT, BlockBuilt(height, round_, block))
        return self._log_outputs(self.engine.on_block_built(height, round_, block))

    def on_decided(self, block: bytes, certificate: CommitCertificate) -> list[Action]:
        self.wal.append(RecordKind.DECIDED, Decided(block, certificate))
        return self._log_outputs(self.engine.on_decided(block, certificate))

    def gossip_state(self) -> list[SignedProposal | SignedVote]:
        return self.engine.gossip_state()

    def _log_outputs(self, actions: list[Action]) -> list[Action]:
        for action in actions:
            if isinstance(action, Broadcast):
                kind = (
                    RecordKind.SENT_PROPOSAL
                    if isinstance(action.message, SignedProposal)
                    else RecordKind.SENT_VOTE
                )
                self.wal.append(kind, action.message)
            elif isinstance(action, Commit):
                self.wal.append(RecordKind.END_HEIGHT, action.height)
        return actions


def _replay(engine: Engine, record: WalRecord) -> list[Action]:
    body = record.body
    if record.kind in (RecordKind.RECEIVED_PROPOSAL, RecordKind.SENT_PROPOSAL):
        assert isinstance(body, SignedProposal)
        return engine.on_proposal(body)
    if record.kind in (RecordKind.RECEIVED_VOTE, RecordKind.SENT_VOTE):
        assert isinstance(body, SignedVote)
        return engine.on_vote(body)
    if record.kind is RecordKind.TIMEOUT:
        assert isinstance(body, Timeout)
        return engine.on_timeout(body)
    if record.kind is RecordKind.BLOCK_BUILT:
        assert isinstance(body, BlockBuilt)
        return engine.on_block_built(body.height, body.round, body.block)
    if record.kind is RecordKind.DECIDED:
        assert isinstance(body, Decided)
        return engine.on_decided(body.block, body.certificate)
    return []
