"""The market with real node processes and real PyTorch training: every outcome of a job, end to end.

Each test runs its own dev chain (fast blocks) and the roles it needs; the solver runs as a separate
`gradchain worker solver` process in the honest case, the other roles as threads of this process.
"""

import subprocess
import sys
import threading
import time

import pytest

from chain.cli.demo import demo_spec
from chain.node.launcher import LocalNetwork
from chain.primitives.crypto import Keypair, dev_keypair
from compute_market.adversary import CheatingSolver, CheatPlan, FalseWhistleblower, LazyVerifier
from compute_market.worker import client as calls
from compute_market.worker.client import MarketNode
from compute_market.worker.datasets import Dataset, dataset_hash, synthetic_digits
from compute_market.worker.roles import Referee, Solver, Verifier, Whistleblower

pytestmark = [pytest.mark.integration, pytest.mark.slow]
UNIT = 10**12
SOLVER, VERIFIER, WHISTLEBLOWER, SUBMITTER = "Charlie", "Dave", "Eve", "Ferdie"


def digits_dataset() -> Dataset:
    digits = synthetic_digits(seed=7, n_train=1024, n_test=256)
    return Dataset(
        digits.x_train.reshape(-1, 64), digits.y_train, digits.x_test.reshape(-1, 64), digits.y_test
    )


class Market:
    def __init__(self, net: LocalNetwork, tmp_path):
        self.net, self.tmp = net, tmp_path
        self.addr = net.nodes[0].grpc_addr
        self.reader = MarketNode(self.addr)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def node(self, name: str) -> MarketNode:
        key = Keypair.from_uri("//Alice//stash") if name == "referee" else dev_keypair(name)
        return MarketNode(self.addr, key)

    def run(self, role) -> None:
        role.poll_interval = 0.2
        t = threading.Thread(target=role.run, args=(self.stop,), daemon=True)
        t.start()
        self.threads.append(t)

    def solver_process(self, state_dir) -> subprocess.Popen:
        """An honest `gradchain worker solver` process (terminate it when done)."""
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chain.cli",
                "worker",
                "solver",
                "--key",
                f"//{SOLVER}",
                "--node",
                self.addr,
                "--state-dir",
                str(state_dir),
                "--poll",
                "0.2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def register(self, verifier: bool = True) -> None:
        assert self.node(SOLVER).send(calls.register_solver(1000 * UNIT), "register solver", wait=True)
        if verifier:
            assert self.node(VERIFIER).send(calls.register_verifier(), "register verifier", wait=True)

    def submit(
        self, seed: int = 1, steps: int = 120, data: Dataset | None = None, upload: bool = True
    ) -> int:
        data = digits_dataset() if data is None else data
        submitter = self.node(SUBMITTER)
        blob = data.to_bytes()
        spec = demo_spec(submitter.put_blob(blob) if upload else dataset_hash(blob), seed, steps)
        before = {j.id for j in submitter.jobs()}
        assert submitter.send(calls.submit_job(spec.encode(), 100 * UNIT), "submit job", wait=True)
        return max(j.id for j in submitter.jobs() if j.id not in before)

    def wait_status(self, job_id: int, statuses: tuple[str, ...], timeout: float = 240.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.reader.job(job_id)
            if job.status in statuses:
                return job
            time.sleep(0.3)
        raise AssertionError(
            f"job {job_id} is {self.reader.job(job_id).status}, not {statuses}\n"
            f"{self.net.nodes[0].log_tail()}"
        )

    def free_and_reserved(self, name: str) -> int:
        key = Keypair.from_uri("//Alice//stash") if name == "referee" else dev_keypair(name)
        a = self.reader.chain.account("0x" + key.public.hex())
        return int(a.free) + int(a.reserved)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=20)


@pytest.fixture
def market(tmp_path):
    with LocalNetwork(tmp_path / "chain", chain="dev", idle_block_interval=0.3) as net:
        net.wait_height(1, timeout=60)
        m = Market(net, tmp_path)
        try:
            yield m
        finally:
            m.close()


def test_honest_job_is_paid(market, tmp_path):
    market.register()
    solver = market.solver_process(tmp_path / "solver")
    try:
        market.run(Verifier(market.node(VERIFIER)))
        market.run(Whistleblower(market.node(WHISTLEBLOWER)))
        before = market.free_and_reserved(SOLVER)
        job_id = market.submit()
        job = market.wait_status(job_id, ("FINALIZED", "SLASHED"))
        assert job.status == "FINALIZED"
        assert job.verifier == dev_keypair(VERIFIER).public and list(job.attested_ok)
        assert market.free_and_reserved(SOLVER) > before + 99 * UNIT
        assert not market.reader.disputes(job_id)  # its evaluation, too, checked out for both auditors
        assert job.has_evaluation and job.eval_count == 256 and 0 < job.eval_correct <= 256
    finally:
        solver.terminate()
        solver.wait(20)


def test_cheater_caught_at_exact_step_and_slashed(market, tmp_path):
    market.register(verifier=False)
    market.run(CheatingSolver(market.node(SOLVER), tmp_path / "solver", CheatPlan(70)))
    market.run(Whistleblower(market.node(WHISTLEBLOWER)))
    market.run(Referee(market.node("referee")))
    submitter_before = market.free_and_reserved(SUBMITTER)
    whistleblower_before = market.free_and_reserved(WHISTLEBLOWER)
    solver_before = market.free_and_reserved(SOLVER)
    job_id = market.submit()
    job = market.wait_status(job_id, ("FINALIZED", "SLASHED"))
    assert job.status == "SLASHED"
    won = [d for d in market.reader.disputes(job_id) if d.outcome == "CHALLENGER_WON"]
    assert won and (won[0].segment, won[0].lo, won[0].hi) == (3, 70, 71)
    assert market.free_and_reserved(WHISTLEBLOWER) > whistleblower_before
    assert market.free_and_reserved(SOLVER) < solver_before
    assert submitter_before - market.free_and_reserved(SUBMITTER) < UNIT // 1000  # refunded but for fees


def test_lazy_verifier_that_attested_a_wrong_segment_is_slashed(market, tmp_path):
    # Two segments and q = 2: the verifier is asked to replay both, so it attests the bad one.
    market.register()
    market.run(CheatingSolver(market.node(SOLVER), tmp_path / "solver", CheatPlan(30)))
    verifier_before = market.free_and_reserved(VERIFIER)
    market.run(LazyVerifier(market.node(VERIFIER)))
    job_id = market.submit(steps=40)
    job = market.wait_status(job_id, ("ATTESTED",))
    assert sorted(job.sampled_segments) == [0, 1] and job.verifier == dev_keypair(VERIFIER).public
    market.run(Whistleblower(market.node(WHISTLEBLOWER)))
    market.run(Referee(market.node("referee")))
    job = market.wait_status(job_id, ("FINALIZED", "SLASHED"))
    assert job.status == "SLASHED"
    assert market.free_and_reserved(VERIFIER) < verifier_before - 10 * UNIT


def test_false_challenge_loses_its_bond(market, tmp_path):
    market.register(verifier=False)
    market.run(Solver(market.node(SOLVER), tmp_path / "solver"))
    market.run(FalseWhistleblower(market.node(WHISTLEBLOWER), audit_share=0.2))
    market.run(Referee(market.node("referee")))
    whistleblower_before = market.free_and_reserved(WHISTLEBLOWER)
    solver_before = market.free_and_reserved(SOLVER)
    job_id = market.submit()
    job = market.wait_status(job_id, ("FINALIZED", "SLASHED"))
    assert job.status == "FINALIZED"
    disputes = market.reader.disputes(job_id)
    assert disputes and disputes[0].outcome == "SOLVER_WON"
    assert market.free_and_reserved(WHISTLEBLOWER) < whistleblower_before - 4 * UNIT
    assert market.free_and_reserved(SOLVER) > solver_before + 100 * UNIT


def test_solver_withholding_the_step_state_loses_at_the_deadline(market, tmp_path):
    market.register(verifier=False)
    market.run(CheatingSolver(market.node(SOLVER), tmp_path / "solver", CheatPlan(70, withhold_state=True)))
    market.run(Whistleblower(market.node(WHISTLEBLOWER)))
    market.run(Referee(market.node("referee")))
    job_id = market.submit()
    job = market.wait_status(job_id, ("FINALIZED", "SLASHED"))
    assert job.status == "SLASHED"
    disputes = market.reader.disputes(job_id)
    assert disputes[0].outcome == "CHALLENGER_WON" and disputes[0].resolution == "SOLVER_TIMEOUT"


def test_workers_carry_on_after_a_node_restart(market, tmp_path):
    market.register()
    solver = Solver(market.node(SOLVER), tmp_path / "solver")
    market.run(solver)
    market.run(Verifier(market.node(VERIFIER)))
    job_id = market.submit()
    market.wait_status(job_id, ("COMMITTED", "ATTESTED"))
    node = market.net.nodes[0]
    node.kill9()
    time.sleep(1.0)
    node.start()  # same ports, same database: the workers' channels reconnect
    market.net.wait_height(1, timeout=60)
    job = market.wait_status(job_id, ("FINALIZED", "SLASHED"))
    assert job.status == "FINALIZED"
    second = market.submit(seed=5)  # and they keep working on new jobs
    assert market.wait_status(second, ("FINALIZED", "SLASHED")).status == "FINALIZED"


def test_solver_publishing_a_state_that_is_not_the_agreed_one_loses_the_vote(market, tmp_path):
    market.register(verifier=False)
    market.run(CheatingSolver(market.node(SOLVER), tmp_path / "solver", CheatPlan(70, bad_state=True)))
    market.run(Whistleblower(market.node(WHISTLEBLOWER)))
    market.run(Referee(market.node("referee")))
    job_id = market.submit()
    job = market.wait_status(job_id, ("FINALIZED", "SLASHED"))
    assert job.status == "SLASHED"
    won = market.reader.disputes(job_id)[0]
    assert (won.outcome, won.resolution, won.lo, won.hi) == ("CHALLENGER_WON", "VOTE", 70, 71)


def test_solver_committing_a_wrong_accuracy_loses_the_evaluation_dispute(market, tmp_path):
    # An honest run whose committed accuracy is 3 test examples better than the model's: the whistleblower
    # recomputes the evaluation from the last checkpoint and challenges it, the referee recomputes it too.
    market.register(verifier=False)
    cheat = CheatPlan(None, inflate_accuracy=3)
    market.run(CheatingSolver(market.node(SOLVER), tmp_path / "solver", cheat))
    market.run(Whistleblower(market.node(WHISTLEBLOWER), audit_share=0.01))
    market.run(Referee(market.node("referee")))
    submitter_before = market.free_and_reserved(SUBMITTER)
    solver_before = market.free_and_reserved(SOLVER)
    job_id = market.submit(steps=40)
    job = market.wait_status(job_id, ("FINALIZED", "SLASHED"))
    assert job.status == "SLASHED"
    (report,) = market.reader.disputes(job_id)
    assert (report.kind, report.outcome, report.resolution) == ("EVALUATION", "CHALLENGER_WON", "VOTE")
    assert market.free_and_reserved(SOLVER) < solver_before
    assert submitter_before - market.free_and_reserved(SUBMITTER) < UNIT // 1000  # refunded but for fees


def test_solver_withholding_a_checkpoint_loses_the_checkpoint_dispute(market, tmp_path):
    # An honest run, but checkpoint 2 (the state at step 60) is never uploaded: the whistleblower waits for
    # it a few seconds, challenges it as a CHECKPOINT, the referee waits half the vote period for it, then
    # votes it unusable.
    market.register(verifier=False)
    market.run(
        CheatingSolver(market.node(SOLVER), tmp_path / "solver", CheatPlan(None, withhold_checkpoint=2))
    )
    market.run(Whistleblower(market.node(WHISTLEBLOWER)))
    market.run(Referee(market.node("referee")))
    submitter_before = market.free_and_reserved(SUBMITTER)
    job_id = market.submit()
    job = market.wait_status(job_id, ("FINALIZED", "SLASHED"))
    assert job.status == "SLASHED"
    (report,) = market.reader.disputes(job_id)
    assert (report.kind, report.segment, report.outcome, report.resolution) == (
        "CHECKPOINT",
        2,
        "CHALLENGER_WON",
        "VOTE",
    )
    assert submitter_before - market.free_and_reserved(SUBMITTER) < UNIT // 1000  # refunded but for fees


def test_withheld_checkpoint_does_not_shield_a_cheater(market, tmp_path):
    # The cheated segment [60, 80] starts at the withheld checkpoint: the whistleblower challenges it and also
    # replays the segment from the checkpoint at step 40, so the wrong step is disputed as well.
    market.register(verifier=False)
    market.run(CheatingSolver(market.node(SOLVER), tmp_path / "solver", CheatPlan(70, withhold_checkpoint=2)))
    market.run(Whistleblower(market.node(WHISTLEBLOWER)))
    market.run(Referee(market.node("referee")))
    job_id = market.submit()
    job = market.wait_status(job_id, ("FINALIZED", "SLASHED"))
    assert job.status == "SLASHED"
    disputes = {(d.kind, d.segment): d for d in market.reader.disputes(job_id)}
    assert {("CHECKPOINT", 2), ("STEP", 3)} <= set(disputes), disputes
    assert any(d.outcome == "CHALLENGER_WON" for d in disputes.values())
    # whichever dispute ends first slashes the job; the step dispute either found the perturbed step or was
    # superseded by the checkpoint verdict
    step = disputes[("STEP", 3)]
    assert (step.outcome, step.lo, step.hi) == ("CHALLENGER_WON", 70, 71) or (
        step.outcome,
        step.resolution,
    ) == ("VOID", "SUPERSEDED"), step


def test_verifier_that_finds_a_wrong_segment_plays_the_dispute_and_wins(market, tmp_path):
    # Two segments and q = 2: the honest verifier replays both, reports the bad one, and the chain opens a
    # dispute with the verifier as challenger, which it must play through the bisection.
    market.register()
    market.run(CheatingSolver(market.node(SOLVER), tmp_path / "solver", CheatPlan(30)))
    market.run(Verifier(market.node(VERIFIER)))
    market.run(Referee(market.node("referee")))
    verifier_before = market.free_and_reserved(VERIFIER)
    job_id = market.submit(steps=40)
    job = market.wait_status(job_id, ("FINALIZED", "SLASHED"))
    assert job.status == "SLASHED"
    (dispute,) = market.reader.disputes(job_id)
    assert dispute.challenger == dev_keypair(VERIFIER).public
    assert (dispute.outcome, dispute.lo, dispute.hi) == ("CHALLENGER_WON", 30, 31)
    assert market.free_and_reserved(VERIFIER) > verifier_before


def test_unusable_and_missing_datasets_are_rejected_without_blocking_the_solver(market, tmp_path):
    # Labels outside the model's classes, and a dataset never uploaded: the solver reports both (the second
    # after retrying for its patience), the referee finds them unusable, the jobs end REJECTED; the solver's
    # third job, submitted after them, is trained and paid meanwhile.
    market.register(verifier=False)
    market.run(Solver(market.node(SOLVER), tmp_path / "solver", dataset_patience=2.0))
    market.run(Referee(market.node("referee")))
    good = digits_dataset()
    labels = good.y_train.clone()
    labels[0] = 10
    bad = market.submit(data=Dataset(good.x_train, labels, good.x_test, good.y_test))
    never_uploaded = Dataset(good.x_train, good.y_train, good.x_test[:100], good.y_test[:100])
    missing = market.submit(seed=2, data=never_uploaded, upload=False)
    honest = market.submit(seed=3, steps=40)
    for job_id in (bad, missing):
        assert market.wait_status(job_id, ("REJECTED", "SLASHED", "FINALIZED")).status == "REJECTED"
        (report,) = market.reader.disputes(job_id)
        assert (report.kind, report.outcome, report.challenger) == (
            "DATASET",
            "CHALLENGER_WON",
            dev_keypair(SOLVER).public,
        )
    assert market.wait_status(honest, ("FINALIZED", "SLASHED")).status == "FINALIZED"
