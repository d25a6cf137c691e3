"""The engine driven by hand, the signer guard, and the WAL on a real file system."""

from __future__ import annotations

import pytest

from chain.primitives.crypto import Keypair
from chain.primitives.hashing import blake2_256
from consensus.actions import Broadcast, Commit, RecordEvidence, RequestProposal, ScheduleTimeout
from consensus.driver import ConsensusDriver
from consensus.engine import Engine, TimeoutConfig
from consensus.guard import CorruptGuardState, SignerGuard
from consensus.storage import AppendFile, AtomicFile, MemoryLog
from consensus.types import Proposal, SignedProposal, SignedVote, Step, Timeout, Vote, VoteType
from consensus.validators import ValidatorSet
from consensus.wal import RecordKind, WriteAheadLog, read_records

GENESIS = blake2_256(b"engine-tests")
KEYS = [Keypair.from_seed(blake2_256(b"v%d" % i)) for i in range(4)]
VSET = ValidatorSet.of((k.public, 1) for k in KEYS)


def engine_for(key: Keypair, vset: ValidatorSet = VSET, height: int = 1) -> Engine:
    return Engine(
        genesis_hash=GENESIS,
        signer=SignerGuard(key, GENESIS),
        validator_sets=lambda h: vset,
        validate_block=lambda h, b: b.startswith(b"ok"),
        height=height,
    )


def of_type(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def vote(
    key: Keypair, vote_type: VoteType, block: bytes | None, round_: int = 0, height: int = 1
) -> SignedVote:
    return SignedVote.sign(Vote(vote_type, height, round_, block), key, GENESIS)


def test_single_validator_commits_its_own_block_at_once():
    key = KEYS[0]
    engine = engine_for(key, ValidatorSet.of([(key.public, 5)]))
    actions = engine.start()
    assert RequestProposal(1, 0) in actions
    actions = engine.on_block_built(1, 0, b"ok block one")
    commits = of_type(actions, Commit)
    assert len(commits) == 1 and commits[0].block == b"ok block one" and engine.height == 2
    assert len(of_type(actions, Broadcast)) == 3  # proposal, prevote, precommit


def test_timeouts_grow_linearly_with_the_round():
    t = TimeoutConfig(propose_base=1.0, propose_delta=0.5)
    assert [t.duration(Step.PROPOSE, r) for r in range(3)] == [1.0, 1.5, 2.0]


def test_non_proposer_prevotes_nil_on_propose_timeout_and_schedules_next_round():
    proposer = VSET.proposer(1, 0)
    key = next(k for k in KEYS if k.public != proposer)
    engine = engine_for(key)
    timers = of_type(engine.start(), ScheduleTimeout)
    assert timers[0].timeout == Timeout(1, 0, Step.PROPOSE)
    prevotes = of_type(engine.on_timeout(Timeout(1, 0, Step.PROPOSE)), Broadcast)
    assert prevotes[0].message.vote == Vote(VoteType.PREVOTE, 1, 0, None)
    assert engine.on_timeout(Timeout(1, 0, Step.PROPOSE)) == []  # a stale timer does nothing


def test_polka_locks_and_lock_blocks_a_different_proposal_next_round():
    proposer0 = next(k for k in KEYS if k.public == VSET.proposer(1, 0))
    me = next(k for k in KEYS if k is not proposer0 and k.public != VSET.proposer(1, 1))
    engine = engine_for(me)
    engine.start()
    block = b"ok first"
    engine.on_proposal(SignedProposal.sign(Proposal(1, 0, blake2_256(block)), block, proposer0, GENESIS))
    others = [k for k in KEYS if k is not me]
    actions = []
    for k in others[:2]:
        actions += engine.on_vote(vote(k, VoteType.PREVOTE, blake2_256(block)))
    precommits = [a.message.vote for a in of_type(actions, Broadcast)]
    assert Vote(VoteType.PRECOMMIT, 1, 0, blake2_256(block)) in precommits
    assert engine.locked_round == 0 and engine.locked_value == blake2_256(block)
    for k in others:  # nil precommits: the round fails
        engine.on_vote(vote(k, VoteType.PRECOMMIT, None))
    engine.on_timeout(Timeout(1, 0, Step.PRECOMMIT))
    assert engine.round == 1
    proposer1 = next(k for k in KEYS if k.public == VSET.proposer(1, 1))
    other = b"ok second"
    actions = engine.on_proposal(
        SignedProposal.sign(Proposal(1, 1, blake2_256(other)), other, proposer1, GENESIS)
    )
    assert [a.message.vote for a in of_type(actions, Broadcast)] == [Vote(VoteType.PREVOTE, 1, 1, None)]


def test_conflicting_votes_become_evidence_once():
    engine = engine_for(KEYS[0])
    engine.start()
    a, b = vote(KEYS[1], VoteType.PREVOTE, b"\x01" * 32), vote(KEYS[1], VoteType.PREVOTE, b"\x02" * 32)
    engine.on_vote(a)
    evidence = of_type(engine.on_vote(b), RecordEvidence)
    assert len(evidence) == 1 and {evidence[0].evidence.vote_a, evidence[0].evidence.vote_b} == {a, b}
    assert of_type(engine.on_vote(b), RecordEvidence) == []


def test_more_than_a_third_in_a_higher_round_skips_to_it():
    engine = engine_for(KEYS[0])
    engine.start()
    engine.on_vote(vote(KEYS[1], VoteType.PREVOTE, None, round_=3))
    assert engine.round == 0
    engine.on_vote(vote(KEYS[2], VoteType.PREVOTE, None, round_=2))
    assert engine.round == 2


def test_invalid_signature_and_outsider_votes_are_ignored():
    engine = engine_for(KEYS[0])
    engine.start()
    good = vote(KEYS[1], VoteType.PREVOTE, None)
    engine.on_vote(SignedVote(good.vote, good.validator, b"\x00" * 64))
    engine.on_vote(vote(Keypair.from_seed(b"\x09" * 32), VoteType.PREVOTE, None))
    assert engine.votes.tally(0, VoteType.PREVOTE).stake_total == 0


# ---- signer guard -------------------------------------------------------------------------------------


def test_guard_refuses_lower_or_conflicting_and_resends_identical(tmp_path):
    path = tmp_path / "guard"
    guard = SignerGuard(KEYS[0], GENESIS, AtomicFile(path))
    first = guard.sign_vote(Vote(VoteType.PREVOTE, 3, 1, b"\x01" * 32))
    assert first is not None
    restarted = SignerGuard(KEYS[0], GENESIS, AtomicFile(path))
    assert restarted.sign_vote(Vote(VoteType.PREVOTE, 3, 1, b"\x01" * 32)) == first
    assert restarted.sign_vote(Vote(VoteType.PREVOTE, 3, 1, b"\x02" * 32)) is None
    assert restarted.sign_vote(Vote(VoteType.PREVOTE, 3, 0, None)) is None
    assert restarted.sign_proposal(Proposal(3, 1, b"\x03" * 32), b"b") is None
    assert restarted.sign_vote(Vote(VoteType.PRECOMMIT, 3, 1, None)) is not None
    assert SignerGuard(KEYS[0], GENESIS, AtomicFile(path)).last.step is Step.PRECOMMIT


def test_invalid_guard_state_refuses_to_start(tmp_path):
    path = tmp_path / "guard"
    path.write_bytes(b"\x01\x02")
    with pytest.raises(CorruptGuardState):
        SignerGuard(KEYS[0], GENESIS, AtomicFile(path))


# ---- WAL ----------------------------------------------------------------------------------------------


def test_wal_round_trip_on_disk_and_torn_tail_is_dropped(tmp_path):
    path = tmp_path / "wal"
    store = AppendFile(path)
    wal = WriteAheadLog(store)
    v = vote(KEYS[1], VoteType.PREVOTE, None)
    wal.append(RecordKind.RECEIVED_VOTE, v)
    wal.append(RecordKind.TIMEOUT, Timeout(1, 0, Step.PREVOTE))
    wal.append(RecordKind.END_HEIGHT, 1)
    store.close()
    intact = path.read_bytes()
    with open(path, "ab") as f:
        f.write(intact[:11])  # a torn frame
    reopened = WriteAheadLog(AppendFile(path))
    assert [r.body for r in reopened.records()] == [v, Timeout(1, 0, Step.PREVOTE), 1]
    assert reopened.torn_bytes == 11 and path.read_bytes() == intact
    records, length = read_records(intact[:-1])
    assert len(records) == 2 and length < len(intact)


def test_wal_replay_restores_round_state_and_guard_resends_last_vote():
    proposer = next(k for k in KEYS if k.public == VSET.proposer(1, 0))
    me = next(k for k in KEYS if k is not proposer)
    guard_store_key = me
    log = MemoryLog()
    guard = SignerGuard(guard_store_key, GENESIS)
    engine = Engine(
        genesis_hash=GENESIS, signer=guard, validator_sets=lambda h: VSET, validate_block=lambda h, b: True
    )
    driver = ConsensusDriver(engine, WriteAheadLog(log))
    driver.start()
    block = b"ok block"
    sent = of_type(
        driver.on_proposal(SignedProposal.sign(Proposal(1, 0, blake2_256(block)), block, proposer, GENESIS)),
        Broadcast,
    )
    prevote = sent[0].message
    fresh = Engine(
        genesis_hash=GENESIS,
        signer=SignerGuard(me, GENESIS, guard.store),
        validator_sets=lambda h: VSET,
        validate_block=lambda h, b: True,
    )
    _, actions = ConsensusDriver.recover(fresh, WriteAheadLog(log))
    assert fresh.step is Step.PREVOTE and fresh.proposals[0].block == block
    assert Broadcast(prevote) in actions
    assert fresh.votes.has(prevote)
