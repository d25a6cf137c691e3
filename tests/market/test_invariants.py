"""Random interleavings of every market call and block advances, with the economic invariants checked after
each step: issuance falls only by documented burns, every reserve is accounted for (so none outlives its
job), every live job has a pending deadline, failed calls change nothing, and the honest side of a
dispute never loses: not in a step bisection (a lying solver may stall or publish a state the referees
cannot load, and the honest verifier keeps its bond), not over a committed artifact (a solver's artifacts
may be bad, challengers may lie about them), and not over a dataset (a submitter's dataset may be
unusable, a solver may report a usable one)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from compute_market.commitment import FAULT_VOTE, StepCommitment
from compute_market.pallet import calls, dispute
from compute_market.pallet.types import (
    UNIT,
    Agenda,
    AgendaKind,
    DisputeKind,
    DisputeOutcome,
    DisputePhase,
    Disputes,
    Jobs,
    JobStatus,
    Solvers,
    Verifiers,
)
from runtime.frame.support import DispatchError
from tests.market.harness import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    EVE,
    FERDIE,
    REFEREE_BOND,
    REFEREES,
    Keypair,
    Market,
    Referees,
    lying_hashes,
    make_spec,
    true_hashes,
)

SHAPES = [(8, 4), (20, 8), (33, 8), (12, 12)]
MAX_JOBS = 8  # enough to interleave; more only slows each invariant check
ACCOUNTS = (ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, *REFEREES)


@dataclass
class Run:
    truth: list[bytes]
    commitment: StepCommitment | None = None
    honest: bool | None = None  # the solver's run; None until committed
    dataset_ok: bool = True  # whether the submitter's dataset passes the referees' check
    artifacts_ok: bool = True  # whether the committed checkpoints, hash list and final model pass theirs


@dataclass
class Party:
    keypair: Keypair
    view: list[bytes]
    honest: bool


class MarketMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.m = Market()
        self.issuance = self.m.issuance()
        self.burned = 0
        self.mark = 0
        self.runs: dict[int, Run] = {}
        self.challengers: dict[int, Party] = {}
        self.unusable: set[int] = set()  # step disputes whose lying solver published a state no referee loads
        self.try_call(DAVE, calls.register_verifier)
        self.try_call(BOB, calls.register_solver, 1_000 * UNIT)

    # --- plumbing ---------------------------------------------------------------------------------------

    def collect(self) -> None:
        for _phase, ev in self.m.executive.env.events[self.mark :]:
            if ev.pallet == "ComputeMarket" and ev.name == "Slashed":
                self.burned += ev.args[3]
        self.mark = len(self.m.executive.env.events)

    def try_call(self, who, fn, *args) -> bool:
        before = self.m.contents()
        events = len(self.m.executive.env.events)
        try:
            self.m.call(who, fn, *args)
        except DispatchError:
            assert self.m.contents() == before, f"failed {fn.name} changed state"
            assert len(self.m.executive.env.events) == events
            return False
        finally:
            self.collect()
        return True

    def job_ids(self) -> list[int]:
        return sorted(self.runs)

    def jobs_in(self, *statuses: JobStatus) -> list[int]:
        """Mostly jobs in the given statuses (so rules make progress), sometimes any job (so they fail)."""
        return [i for i in self.job_ids() if self.m.job(i).status in statuses]

    def open_disputes(self) -> list[int]:
        with self.m.ext():
            return [i for i, d in Disputes.iter() if d.phase is not DisputePhase.RESOLVED]

    def move(self, data, dispute_id: int, honest_only: bool) -> bool:
        """Let the party whose turn it is move, if it is honest (or anyone when not honest_only). A lying
        solver may publish a state the referees cannot load, which they vote FAULT_VOTE on."""
        d = self.m.dispute(dispute_id)
        run = self.runs[d.job_id]
        challenger = self.challengers[dispute_id]
        job = self.m.job(d.job_id)
        solver = next(k for k in ACCOUNTS if k.public == job.solver)
        if d.phase in (DisputePhase.REVEAL, DisputePhase.STEP_STATE):
            if honest_only and not run.honest:
                return False
            if d.phase is DisputePhase.REVEAL:
                return self.try_call(solver, dispute.reveal, dispute_id, *run.commitment.open(d.next_step))
            unusable = not run.honest and data.draw(st.booleans())
            if not self.try_call(solver, dispute.submit_step_state, dispute_id, bytes(32), d.lo_hash):
                return False
            if unusable:
                self.unusable.add(dispute_id)
            return True
        if d.phase is DisputePhase.RESPONSE:
            if honest_only and not challenger.honest:
                return False
            agree = d.revealed == challenger.view[(d.lo + d.hi) // 2]
            return self.try_call(challenger.keypair, dispute.respond, dispute_id, agree)
        if d.phase is DisputePhase.VOTING and d.kind is not DisputeKind.STEP:
            good = run.dataset_ok if d.kind is DisputeKind.DATASET else run.artifacts_ok
            for k in REFEREES:
                if self.m.dispute(dispute_id).phase is DisputePhase.VOTING:
                    self.try_call(k, dispute.referee_vote, dispute_id, d.hi_hash if good else FAULT_VOTE)
            return True
        if d.phase is DisputePhase.VOTING and dispute_id in self.unusable:
            for k in REFEREES:
                if self.m.dispute(dispute_id).phase is DisputePhase.VOTING:
                    self.try_call(k, dispute.referee_vote, dispute_id, FAULT_VOTE)
            return True
        if d.phase is DisputePhase.VOTING:
            Referees(run.truth).vote(self.m, dispute_id)
            self.collect()
            return True
        return False

    # --- rules ------------------------------------------------------------------------------------------

    @rule(who=st.sampled_from([BOB, CHARLIE]), stake=st.sampled_from([50, 200, 1_000]))
    def register_solver(self, who, stake):
        self.try_call(who, calls.register_solver, stake * UNIT)

    @rule(who=st.sampled_from([BOB, CHARLIE]), amount=st.sampled_from([1, 100]))
    def add_stake(self, who, amount):
        self.try_call(who, calls.add_stake, amount * UNIT)

    @rule(who=st.sampled_from([BOB, CHARLIE]))
    def unregister(self, who):
        self.try_call(who, calls.unregister_solver)

    @rule(who=st.sampled_from([BOB, CHARLIE]))
    def withdraw(self, who):
        self.try_call(who, calls.withdraw_unbonded)

    @rule(
        who=st.sampled_from([ALICE, EVE]),
        shape=st.sampled_from(SHAPES),
        payment=st.integers(0, 60) | st.just(5),
        dataset_ok=st.booleans(),
    )
    def submit(self, who, shape, payment, dataset_ok):
        if len(self.runs) >= MAX_JOBS:
            return
        steps, interval = shape
        with self.m.ext():
            from compute_market.pallet.types import NextJobId

            job_id = NextJobId.get()
        if self.try_call(who, calls.submit_job, make_spec(steps, interval), payment * UNIT):
            self.runs[job_id] = Run(true_hashes(steps), dataset_ok=dataset_ok)

    @rule(data=st.data())
    def cancel(self, data):
        if self.runs:
            job_id = data.draw(st.sampled_from(self.job_ids()))
            self.try_call(self.m.job(job_id).submitter, calls.cancel_job, job_id)

    def commit_job(self, data, job_id: int, honest: bool) -> None:
        """An honest solver commits its true run with good artifacts; a liar lies about its steps, or about
        its artifacts only (honest hashes, a bad checkpoint or final model), or both."""
        job, run = self.m.job(job_id), self.runs[job_id]
        lies = "both" if honest else data.draw(st.sampled_from(["steps", "artifacts", "both"]))
        hashes = (
            run.truth
            if lies == "artifacts" or honest
            else lying_hashes(job.steps, data.draw(st.integers(1, job.steps)))
        )
        commitment = StepCommitment(hashes)
        solver = next((k for k in ACCOUNTS if k.public == job.solver), BOB)
        if self.try_call(
            solver,
            calls.commit_result,
            job_id,
            commitment.root,
            hashes[-1],
            hashes[-1],
            [bytes(32)] * job.segment_count,
            0,
            0,
            0,
        ):
            run.commitment, run.honest = commitment, honest
            run.artifacts_ok = honest or lies == "steps"

    def report_dataset(self, job_id: int, honest: bool) -> None:
        """The assigned solver reports the dataset: an honest one only an unusable dataset."""
        job, run = self.m.job(job_id), self.runs[job_id]
        if honest and run.dataset_ok:
            return
        solver = next((k for k in ACCOUNTS if k.public == job.solver), BOB)
        before = set(self.open_disputes())
        if self.try_call(solver, dispute.report_dataset, job_id):
            (new,) = set(self.open_disputes()) - before
            self.challengers[new] = Party(solver, run.truth, honest=not run.dataset_ok)

    def challenge_artifact(self, data, job_id: int, who: Keypair, honest: bool) -> None:
        """An honest auditor challenges an artifact only if it fails its check; a liar challenges any."""
        job, run = self.m.job(job_id), self.runs[job_id]
        if run.commitment is None or (honest and run.artifacts_ok):
            return
        kind = data.draw(st.integers(0, 2))
        index = data.draw(st.integers(0, job.segment_count)) if kind == 0 else 0
        unavailable = data.draw(st.booleans())  # either claim: the referees' check decides both the same way
        before = set(self.open_disputes())
        if self.try_call(who, dispute.challenge_artifact, job_id, kind, index, unavailable):
            (new,) = set(self.open_disputes()) - before
            self.challengers[new] = Party(who, run.truth, honest=not run.artifacts_ok)

    def attest_job(self, job_id: int) -> None:
        """The honest verifier passes exactly the sampled segments whose end it reproduces."""
        job, run = self.m.job(job_id), self.runs[job_id]
        if run.commitment is None:
            return
        segments = self.m.segments(job_id) or [0]
        ends = [min((j + 1) * job.checkpoint_interval, job.steps) for j in segments]
        results = [
            (j, run.commitment.hashes[end] == run.truth[end]) for j, end in zip(segments, ends, strict=True)
        ]
        before = set(self.open_disputes())
        if self.try_call(DAVE, calls.attest, job_id, results):
            for d in set(self.open_disputes()) - before:
                self.challengers[d] = Party(DAVE, run.truth, honest=True)

    def challenge_job(self, data, job_id: int, who: Keypair, honest: bool) -> None:
        """An honest challenger disputes only a segment whose end it cannot reproduce; a liar disputes any."""
        job, run = self.m.job(job_id), self.runs[job_id]
        if run.commitment is None:
            return
        view = run.truth if honest else lying_hashes(job.steps, data.draw(st.integers(1, job.steps)))
        ends = [min((j + 1) * job.checkpoint_interval, job.steps) for j in range(job.segment_count)]
        disputed = [j for j, end in enumerate(ends) if run.commitment.hashes[end] != view[end]]
        if honest and not disputed:
            return
        segment = (
            data.draw(st.sampled_from(disputed)) if honest else data.draw(st.integers(0, job.segment_count))
        )
        before = set(self.open_disputes())
        if self.try_call(who, dispute.challenge, job_id, segment):
            (new,) = set(self.open_disputes()) - before
            self.challengers[new] = Party(who, view, honest)

    @rule(data=st.data(), honest=st.booleans())
    def commit(self, data, honest):
        candidates = self.jobs_in(JobStatus.ASSIGNED) or self.job_ids()
        if candidates:
            self.commit_job(data, data.draw(st.sampled_from(candidates)), honest)

    @rule(data=st.data())
    def attest(self, data):
        candidates = self.jobs_in(JobStatus.COMMITTED, JobStatus.CHALLENGED)
        if candidates:
            self.attest_job(data.draw(st.sampled_from(candidates)))

    @rule(data=st.data(), who=st.sampled_from([FERDIE, EVE]), honest=st.booleans())
    def challenge(self, data, who, honest):
        candidates = self.jobs_in(JobStatus.COMMITTED, JobStatus.ATTESTED, JobStatus.CHALLENGED)
        if candidates:
            self.challenge_job(data, data.draw(st.sampled_from(candidates)), who, honest)

    @rule(data=st.data(), honest=st.booleans())
    def report(self, data, honest):
        candidates = self.jobs_in(JobStatus.ASSIGNED) or self.job_ids()
        if candidates:
            self.report_dataset(data.draw(st.sampled_from(candidates)), honest)

    @rule(data=st.data(), who=st.sampled_from([FERDIE, EVE]), honest=st.booleans())
    def artifact_challenge(self, data, who, honest):
        candidates = self.jobs_in(JobStatus.COMMITTED, JobStatus.ATTESTED, JobStatus.CHALLENGED)
        if candidates:
            self.challenge_artifact(data, data.draw(st.sampled_from(candidates)), who, honest)

    @rule(data=st.data())
    def any_move(self, data):
        """Whoever's turn it is moves, liars included."""
        disputes = self.open_disputes()
        if disputes:
            self.move(data, data.draw(st.sampled_from(disputes)), honest_only=False)

    @rule(data=st.data(), who=st.sampled_from(ACCOUNTS))
    def bogus_moves(self, data, who):
        """Out-of-turn and malformed moves must fail without effect."""
        disputes = self.open_disputes()
        if disputes:
            d = data.draw(st.sampled_from(disputes))
            fn = data.draw(st.sampled_from([dispute.reveal, dispute.respond, dispute.submit_step_state]))
            args = {
                dispute.reveal: (bytes(32), [bytes(32)]),
                dispute.respond: (True,),
                dispute.submit_step_state: (bytes(32), bytes(32)),
            }[fn]
            self.try_call(who, fn, d, *args)

    @rule(data=st.data(), who=st.sampled_from([ALICE, EVE]))
    def finalize(self, data, who):
        if self.runs:
            self.try_call(who, calls.finalize, data.draw(st.sampled_from(self.job_ids())))

    @rule(data=st.data(), blocks=st.integers(1, 3))
    def advance(self, data, blocks):
        """Let each job's actors act as they choose (solvers may commit honestly, lie or stall; the verifier
        may attest; whistleblowers may challenge), honest dispute parties move on time, then seal blocks."""
        for job_id in self.jobs_in(JobStatus.ASSIGNED):
            action = data.draw(st.sampled_from(["honest", "liar", "stall"]))
            if action == "honest" and not self.runs[job_id].dataset_ok:
                self.report_dataset(job_id, honest=True)
            elif action != "stall":
                self.commit_job(data, job_id, action == "honest")
        for job_id in self.jobs_in(JobStatus.COMMITTED, JobStatus.ATTESTED, JobStatus.CHALLENGED):
            if data.draw(st.booleans()):
                self.attest_job(job_id)
            if data.draw(st.booleans()):
                self.challenge_job(
                    data, job_id, data.draw(st.sampled_from([FERDIE, EVE])), data.draw(st.booleans())
                )
            if data.draw(st.booleans()):
                self.challenge_artifact(
                    data, job_id, data.draw(st.sampled_from([FERDIE, EVE])), data.draw(st.booleans())
                )
        liars_play = data.draw(st.booleans())  # a lying party plays on, or stalls into its deadline
        for _ in range(blocks):
            progressed = True
            while progressed:
                progressed = any(
                    [self.move(data, d, honest_only=not liars_play) for d in self.open_disputes()]
                )
            self.collect()
            self.m.advance()
            self.mark = 0
            self.collect()

    # --- invariants -------------------------------------------------------------------------------------

    @invariant()
    def issuance_falls_only_by_documented_burns(self):
        if hasattr(self, "m"):
            assert self.m.issuance() == self.issuance - self.burned

    @invariant()
    def every_reserve_is_accounted_for(self):
        if not hasattr(self, "m"):
            return
        expected = {k.public: 0 for k in ACCOUNTS}
        for k in REFEREES:
            expected[k.public] += REFEREE_BOND
        with self.m.ext():
            for who, s in Solvers.iter():
                expected[who] += s.stake
            for who, v in Verifiers.iter():
                expected[who] += v.bond
            for _id, job in Jobs.iter():
                if not job.status.ended:
                    expected[job.submitter] += job.escrow + job.submitter_bond
            for _id, d in Disputes.iter():
                if d.phase is not DisputePhase.RESOLVED:
                    expected[d.challenger] += d.bond
        for k in ACCOUNTS:
            assert self.m.reserved(k) == expected[k.public]

    @invariant()
    def every_live_job_has_a_pending_deadline(self):
        if not hasattr(self, "m"):
            return
        with self.m.ext():
            for job_id, job in Jobs.iter():
                if job.status.ended:
                    assert job.deadline == 0
                elif job.status is JobStatus.CHALLENGED:
                    assert job.open_disputes
                    for d in (Disputes.get(i) for i in job.open_disputes):
                        assert d.deadline > self.m.block and (AgendaKind.DISPUTE, d.id) in Agenda.get(
                            d.deadline
                        )
                else:
                    assert job.deadline > self.m.block and (AgendaKind.JOB, job_id) in Agenda.get(
                        job.deadline
                    )

    @invariant()
    def the_honest_side_never_loses(self):
        if not hasattr(self, "m"):
            return
        with self.m.ext():
            for dispute_id, d in Disputes.iter():
                run = self.runs[d.job_id]
                if d.kind is DisputeKind.DATASET:
                    if d.outcome is DisputeOutcome.CHALLENGER_WON:
                        assert not run.dataset_ok, "an honest submitter's dataset was rejected"
                    if d.outcome is DisputeOutcome.SOLVER_WON:
                        assert not self.challengers[dispute_id].honest, "an honest dataset report lost"
                    continue
                if d.outcome is DisputeOutcome.CHALLENGER_WON:
                    assert not run.honest, "an honest solver lost a dispute"
                if d.outcome is DisputeOutcome.SOLVER_WON:
                    assert not self.challengers[dispute_id].honest, "an honest challenger lost a dispute"
            for job_id, job in Jobs.iter():
                if job.status is JobStatus.SLASHED:
                    assert not self.runs[job_id].honest
                if job.status is JobStatus.REJECTED:
                    assert not self.runs[job_id].dataset_ok, "a usable dataset was rejected"
            assert Verifiers.contains(DAVE.public), "the honest verifier was slashed"


MarketMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestMarketMachine = MarketMachine.TestCase
