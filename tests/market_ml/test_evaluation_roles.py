"""The roles that judge a committed evaluation, against an in-memory node: the whistleblower, and a verifier
that replays the final segment, challenge a wrong figure (and only a wrong one); the referee votes the
committed figures' hash when it recomputes them, the fault vote when it does not."""

from __future__ import annotations

import dataclasses

import pytest

from compute_market.commitment import FAULT_VOTE, Evaluation, encode_step_hashes
from compute_market.worker import client as calls
from compute_market.worker.evaluation import evaluate_model
from compute_market.worker.roles import Referee, Verifier, Whistleblower
from compute_market.worker.trainer import Trainer, train
from proto import market_pb2

from .conftest import small_job

HASH_LIST, LAST = b"\x01" * 32, b"\x02" * 32


class MemoryNode:
    """What the roles read and send, without a chain: blobs by hash, and the calls sent."""

    keypair = None

    def __init__(self, blobs: dict[bytes, bytes]):
        self.blobs, self.sent = blobs, []

    def blob(self, blob_hash: bytes) -> bytes:
        return self.blobs[blob_hash]

    def send(self, call: bytes, what: str, wait: bool = False) -> bool:
        self.sent.append(call)
        return True


@pytest.fixture(scope="module")
def committed():
    spec, ds = small_job("mlp")
    run = train(spec, ds)
    trainer = Trainer.from_checkpoint(spec, ds, run.checkpoints[spec.steps], checkpoints=False)
    steps = sorted(run.checkpoints)
    blobs = {HASH_LIST: encode_step_hashes(run.hashes), spec.dataset_hash: ds.to_bytes()}
    blobs |= {checkpoint_name(i, len(steps)): run.checkpoints[step] for i, step in enumerate(steps)}
    return spec, run, blobs, evaluate_model(trainer.model, ds)


def checkpoint_name(index: int, count: int) -> bytes:
    return LAST if index == count - 1 else bytes([9 + index]) * 32


def job_message(spec, run, evaluation: Evaluation) -> market_pb2.Job:
    count = len(run.checkpoints)
    return market_pb2.Job(
        id=1,
        spec=spec.encode(),
        steps=spec.steps,
        checkpoint_interval=spec.checkpoint_interval,
        status="COMMITTED",
        result_root=run.root,
        final_hash=run.final_model_hash,
        hash_list=HASH_LIST,
        checkpoints=[checkpoint_name(i, count) for i in range(count)],
        sampled_segments=[count - 1],
        has_sampled_segments=True,
        has_evaluation=True,
        eval_loss_bits=evaluation.loss_bits,
        eval_correct=evaluation.correct,
        eval_count=evaluation.count,
    )


def inflated(e: Evaluation) -> Evaluation:
    return dataclasses.replace(e, correct=e.correct + 1 if e.correct < e.count else e.correct - 1)


def audited(committed, evaluation: Evaluation) -> MemoryNode:
    spec, run, blobs, _ = committed
    node = MemoryNode(blobs)
    whistleblower, job = Whistleblower(node), job_message(spec, run, evaluation)
    audit = whistleblower.audit_of(job)
    assert whistleblower.hash_list(job, audit) is not None
    whistleblower.check_evaluation(job, audit)
    return node


def test_honest_evaluation_is_not_challenged(committed):
    assert audited(committed, committed[3]).sent == []


def test_wrong_accuracy_is_challenged_as_an_evaluation(committed):
    node = audited(committed, inflated(committed[3]))
    assert node.sent == [calls.challenge_artifact(1, 3, 0, False)]


@pytest.mark.parametrize("forged", [False, True], ids=["honest", "inflated"])
def test_verifier_that_replays_the_final_segment_checks_the_evaluation(committed, forged):
    spec, run, blobs, honest = committed
    node = MemoryNode(blobs)
    results = Verifier(node).replay_sampled(job_message(spec, run, inflated(honest) if forged else honest))
    last = len(run.checkpoints) - 1
    if forged:  # challenged, and no attestation while the challenge runs
        assert results is None and node.sent == [calls.challenge_artifact(1, 3, 0, False)]
    else:
        assert results == [(last, True)] and node.sent == []


@pytest.mark.parametrize("forged", [False, True], ids=["honest", "inflated"])
def test_referee_votes_the_committed_figures_only_when_it_recomputes_them(committed, forged, caplog):
    spec, run, blobs, honest = committed
    claimed = inflated(honest) if forged else honest
    dispute = market_pb2.Dispute(
        id=2, job_id=1, kind="EVALUATION", phase="VOTING", state_blob=LAST, hi_hash=claimed.hash
    )
    vote = Referee(MemoryNode(blobs)).recompute(job_message(spec, run, claimed), dispute, now_ms=0)
    assert vote == (FAULT_VOTE if forged else honest.hash)
    assert ("the commitment says" in caplog.text) is forged  # the fault found is the figure, nothing else
