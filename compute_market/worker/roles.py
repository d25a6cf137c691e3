"""The off-chain market roles: solver, verifier, whistleblower and referee.

Each role is a loop of `tick()`s: read the market over gRPC, act on what concerns its account, sleep. Every
action is guarded by the chain's state (a job already committed, a move already made), so a restarted worker,
or one whose node restarted, carries on where it was without acting twice. A solver keeps its per-step
hashes on disk (`<state dir>/job-<id>/`), so it can still play a dispute after a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chain.client import ClientError
from chain.primitives.hashing import blake2_256
from compute_market.commitment import StepCommitment, segment_bounds
from compute_market.jobspec import JobSpec
from compute_market.worker import client as calls
from compute_market.worker.client import MarketNode

log = logging.getLogger("gradchain.worker")

Progress = Callable[[str, int, int], None]


def _quiet_progress(label: str, done: int, total: int) -> None:
    pass


@dataclass
class JobContext:
    """A job's spec and dataset, fetched and checked once."""

    spec: JobSpec
    dataset: object


class Role:
    name = "worker"

    def __init__(self, node: MarketNode, poll_interval: float = 0.3, progress: Progress = _quiet_progress):
        self.node, self.poll_interval, self.progress = node, poll_interval, progress
        self.me = node.keypair.public if node.keypair else b""
        self._contexts: dict[int, JobContext] = {}
        self.acted: set[tuple] = set()  # (kind, id, ...) moves already submitted, to skip them while they land
        self.own: dict[tuple[int, int], dict[int, bytes]] = {}  # (job, segment) -> hashes this worker replayed

    def context(self, job) -> JobContext:
        from compute_market.worker.datasets import load_dataset
        ctx = self._contexts.get(job.id)
        if ctx is None:
            spec = JobSpec.decode(bytes(job.spec))
            ctx = JobContext(spec, load_dataset(self.node.blob(spec.dataset_hash), spec))
            self._contexts[job.id] = ctx
        return ctx

    def state_at(self, job, start_segment_state: bytes | None, fault=None) -> object:
        """A trainer at a checkpoint's state (None: the spec's initial state), optionally with a fault."""
        from compute_market.worker.trainer import Trainer
        ctx = self.context(job)
        if start_segment_state is None:
            return Trainer(ctx.spec, ctx.dataset, fault=fault, checkpoints=False)
        return Trainer.from_checkpoint(ctx.spec, ctx.dataset, start_segment_state, fault=fault, checkpoints=False)

    def segment_start_state(self, job, segment: int) -> bytes | None:
        """The solver's checkpoint at the start of `segment`; if it is withheld, the nearest earlier one that
        is available (the replay is then longer), and at worst None: the spec's initial state."""
        for j in range(segment - 1, -1, -1):
            try:
                return self.node.blob(bytes(job.checkpoints[j]))
            except ClientError as e:
                log.warning("%s: job %d: checkpoint %d is unavailable (%s); replaying from further back",
                            self.name, job.id, j, e)
        return None

    def replay(self, job, segment: int) -> dict[int, bytes]:
        """H[..b] of a segment's run, replayed from the solver's own checkpoint at its start (or further back)."""
        spec = self.context(job).spec
        a, b = segment_bounds(spec.steps, spec.checkpoint_interval, segment)
        trainer = self.state_at(job, self.segment_start_state(job, segment))
        start = trainer.step
        hashes = {}
        for record in trainer.run(until=b):
            hashes[record.step] = record.state_hash
            self.progress(f"{self.name}: replay job {job.id} segment {segment}", record.step - start, b - start)
        return hashes

    def play_challenges(self) -> None:
        """Answer the solver's reveals in the disputes this account opened, from its own replay."""
        for dispute in self.node.open_disputes():
            if bytes(dispute.challenger) == self.me and dispute.phase == "RESPONSE":
                self.respond(dispute)

    def respond(self, dispute) -> None:
        key = ("respond", dispute.id, dispute.lo, dispute.hi)
        if key in self.acted:
            return
        hashes = self.own.get((dispute.job_id, dispute.segment))
        if hashes is None:  # restarted: replay the disputed segment again
            hashes = self.replay(self.node.job(dispute.job_id), dispute.segment)
            self.own[(dispute.job_id, dispute.segment)] = hashes
        mid = (dispute.lo + dispute.hi) // 2
        agree = hashes.get(mid) == bytes(dispute.revealed)
        if self.node.send(calls.respond(dispute.id, agree), f"respond in dispute {dispute.id}"):
            self.acted.add(key)
            log.info("%s: dispute %d: H[%d] %s -> interval %s", self.name, dispute.id, mid,
                     "agreed" if agree else "disputed", f"[{mid}, {dispute.hi}]" if agree else f"[{dispute.lo}, {mid}]")

    def claimed_end_hash(self, job, segment: int) -> bytes:
        """The hash of the state the solver uploaded at the end of `segment` (its checkpoint)."""
        from compute_market.worker.trainer import Trainer
        ctx = self.context(job)
        blob = self.node.blob(bytes(job.checkpoints[segment]))
        return Trainer.from_checkpoint(ctx.spec, ctx.dataset, blob, checkpoints=False).state_hash()

    def tick(self) -> None:
        raise NotImplementedError

    def run(self, stop: threading.Event) -> None:
        log.info("%s worker for 0x%s on %s", self.name, self.me.hex()[:16], self.node.address)
        while not stop.is_set():
            try:
                self.tick()
            except ClientError as e:
                log.warning("%s: %s", self.name, e)
            except Exception:  # a bad job (unusable spec or dataset) must not stop the worker; it is logged
                log.exception("%s: error while acting on the market", self.name)
                stop.wait(5 * self.poll_interval)
            stop.wait(self.poll_interval)


@dataclass
class CheatPlan:
    """A dishonest solver for demos and tests: perturb the state after `step` in the listed jobs (or all)."""

    step: int | None  # None: train honestly (and cheat only as the flags below say)
    jobs: set[int] | None = None
    withhold_state: bool = False  # never publish the state a dispute asks for
    bad_state: bool = False  # publish a state that does not hash to the agreed H[s]
    withhold_checkpoint: int | None = None  # commit to this checkpoint's hash but never upload it

    def applies(self, job_id: int) -> bool:
        return self.jobs is None or job_id in self.jobs


@dataclass
class SolverRun:
    hashes: list[bytes]
    checkpoints: dict[int, bytes] = field(default_factory=dict)


class Solver(Role):
    name = "solver"

    def __init__(self, node: MarketNode, state_dir: Path, cheat: CheatPlan | None = None, **kw):
        super().__init__(node, **kw)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.cheat = cheat
        self.runs: dict[int, SolverRun] = {}
        self.accuracy: dict[int, float] = {}

    def fault_for(self, job_id: int):
        from compute_market.worker.trainer import Fault
        if self.cheat is not None and self.cheat.step is not None and self.cheat.applies(job_id):
            return Fault(after_step=self.cheat.step, epsilon=0.05)
        return None

    def _job_dir(self, job_id: int) -> Path:
        return self.state_dir / f"job-{job_id}"

    def load_run(self, job) -> SolverRun | None:
        run = self.runs.get(job.id)
        if run is not None:
            return run
        path = self._job_dir(job.id) / "hashes.bin"
        if not path.exists():
            return None
        data = path.read_bytes()
        hashes = [data[i:i + 32] for i in range(0, len(data), 32)]
        run = SolverRun(hashes)
        self.runs[job.id] = run
        return run

    def train(self, job) -> SolverRun:
        from compute_market.worker.trainer import Trainer, model_hash
        ctx = self.context(job)
        trainer = Trainer(ctx.spec, ctx.dataset, fault=self.fault_for(job.id))
        run = SolverRun([])
        for record in trainer.run(progress_callback=lambda s, t: self.progress(f"solver: train job {job.id}", s, t)):
            run.hashes.append(record.state_hash)
            if record.checkpoint is not None:
                run.checkpoints[record.step] = record.checkpoint
        self.accuracy[job.id] = trainer.evaluate()
        job_dir = self._job_dir(job.id)
        job_dir.mkdir(parents=True, exist_ok=True)
        (job_dir / "hashes.bin").write_bytes(b"".join(run.hashes))
        (job_dir / "final_model_hash").write_bytes(model_hash(trainer.model))
        self.runs[job.id] = run
        return run

    def tick(self) -> None:
        for job in self.node.jobs():
            if bytes(job.solver) != self.me:
                continue
            if job.status == "ASSIGNED" and ("commit", job.id) not in self.acted:
                self.commit(job)
        for dispute in self.node.open_disputes():
            job = self.node.job(dispute.job_id)
            if bytes(job.solver) == self.me:
                self.play(job, dispute)

    def commit(self, job) -> None:
        log.info("solver: training job %d", job.id)
        run = self.train(job)
        blob_hashes = []
        for i, step in enumerate(sorted(run.checkpoints)):
            if self.cheat is not None and self.cheat.applies(job.id) and self.cheat.withhold_checkpoint == i:
                blob_hashes.append(blake2_256(run.checkpoints[step]))
                log.info("solver: withholding checkpoint %d (step %d) of job %d", i, step, job.id)
                continue
            blob_hashes.append(self.node.put_blob(run.checkpoints[step]))
        final_hash = (self._job_dir(job.id) / "final_model_hash").read_bytes()
        root = StepCommitment(run.hashes).root
        if self.node.send(calls.commit_result(job.id, root, final_hash, blob_hashes), f"commit job {job.id}"):
            self.acted.add(("commit", job.id))
            log.info("solver: committed job %d root 0x%s, %d checkpoints", job.id, root.hex()[:16], len(blob_hashes))

    def state_blob_at(self, job, step: int) -> bytes:
        """The full state at `step`, rebuilt from the nearest checkpoint at or before it (same fault)."""
        ctx = self.context(job)
        k = ctx.spec.checkpoint_interval
        segment = step // k
        run = self.runs.get(job.id)
        start = None
        if segment > 0:
            start = run.checkpoints.get(segment * k) if run is not None else None
            if start is None:
                start = self.segment_start_state(job, segment)
        trainer = self.state_at(job, start, fault=self.fault_for(job.id))
        for _ in trainer.run(until=step):
            pass
        return trainer.checkpoint()

    def serve_checkpoint(self, job, dispute, key: tuple) -> None:
        """A checkpoint was reported unavailable: upload it (again) so the referees can fetch it."""
        withheld = self.cheat is not None and self.cheat.applies(job.id) and \
            self.cheat.withhold_checkpoint == dispute.segment
        if dispute.phase != "VOTING" or withheld:
            return
        run = self.runs.get(job.id)
        blob = run.checkpoints.get(dispute.hi) if run is not None else None
        if blob is None:  # restarted: rebuild it (a checkpoint's bytes are a function of the state)
            blob = self.state_blob_at(job, dispute.hi)
        if self.node.put_blob(blob) != bytes(dispute.state_blob):
            log.error("solver: dispute %d: checkpoint %d rebuilt with another hash", dispute.id, dispute.segment)
            return
        self.acted.add(key)
        log.info("solver: dispute %d: checkpoint %d served again", dispute.id, dispute.segment)

    def play(self, job, dispute) -> None:
        run = self.load_run(job)
        if run is None:
            run = self.train(job)
        key = (dispute.phase, dispute.id, dispute.lo, dispute.hi, dispute.next_step)
        if key in self.acted:
            return
        commitment = StepCommitment(run.hashes)
        if dispute.kind == "AVAILABILITY":
            self.serve_checkpoint(job, dispute, key)
        elif dispute.phase == "REVEAL":
            step_hash, proof = commitment.open(dispute.next_step)
            if self.node.send(calls.reveal(dispute.id, step_hash, proof), f"reveal H[{dispute.next_step}]"):
                self.acted.add(key)
                log.info("solver: dispute %d: revealed H[%d]", dispute.id, dispute.next_step)
        elif dispute.phase == "STEP_STATE":
            if self.cheat is not None and self.cheat.withhold_state and self.cheat.applies(job.id):
                return
            bad = self.cheat is not None and self.cheat.bad_state and self.cheat.applies(job.id)
            blob = self.state_blob_at(job, dispute.lo - 1 if bad and dispute.lo > 0 else dispute.lo)
            blob_hash = self.node.put_blob(blob)
            if self.node.send(calls.submit_step_state(dispute.id, blob_hash, run.hashes[dispute.lo]),
                              f"publish the state at step {dispute.lo}"):
                self.acted.add(key)
                log.info("solver: dispute %d: published the state at step %d", dispute.id, dispute.lo)


class Verifier(Role):
    """Replays the segments the chain sampled and attests; `lazy` attests without replaying (a bad verifier)."""

    name = "verifier"

    def __init__(self, node: MarketNode, lazy: bool = False, **kw):
        super().__init__(node, **kw)
        self.lazy = lazy

    def tick(self) -> None:
        for job in self.node.jobs():
            if job.status != "COMMITTED" or not job.has_sampled_segments or job.verifier:
                continue
            if ("attest", job.id) in self.acted or bytes(job.solver) == self.me:
                continue
            results = []
            for segment in job.sampled_segments:
                if self.lazy:
                    results.append((segment, True))
                    continue
                hashes = self.replay(job, segment)
                ok = hashes[max(hashes)] == self.claimed_end_hash(job, segment)
                if not ok:  # the chain opens a dispute for it with this verifier as the challenger
                    self.own[(job.id, segment)] = hashes
                results.append((segment, ok))
            if self.node.send(calls.attest(job.id, results), f"attest job {job.id}"):
                self.acted.add(("attest", job.id))
                log.info("verifier: attested job %d: %s", job.id, results)
        self.play_challenges()


class Whistleblower(Role):
    """Audits a share of every committed job's segments; challenges a wrong one and plays the bisection."""

    name = "whistleblower"

    def __init__(self, node: MarketNode, audit_share: float = 1.0, false_challenge: bool = False, **kw):
        super().__init__(node, **kw)
        self.audit_share = audit_share
        self.false_challenge = false_challenge
        self.audited: set[int] = set()

    def segments_to_audit(self, job) -> list[int]:
        count = len(job.checkpoints)
        ranked = sorted(range(count), key=lambda j: blake2_256(self.me + job.result_root + j.to_bytes(4, "little")))
        return sorted(ranked[:max(1, round(count * self.audit_share))])

    def tick(self) -> None:
        # No block test against window_end: the window also lasts its chain time (pallet `windows`), past
        # window_end on a fast chain, and the chain keeps the job open exactly that long; a challenge sent
        # in the finalize grace after it is refused on chain and only logged.
        for job in self.node.jobs():
            if job.id in self.audited or job.status not in ("COMMITTED", "ATTESTED", "CHALLENGED"):
                continue
            if bytes(job.solver) == self.me:
                continue
            self.audited.add(job.id)
            for segment in self.segments_to_audit(job):
                hashes = self.replay(job, segment)
                try:
                    wrong = hashes[max(hashes)] != self.claimed_end_hash(job, segment)
                except ClientError as e:
                    log.info("whistleblower: job %d: checkpoint %d is unavailable (%s); reporting it",
                             job.id, segment, e)
                    self.node.send(calls.challenge_availability(job.id, segment),
                                   f"report checkpoint {segment} of job {job.id} unavailable")
                    continue  # the segment's steps can still be checked: audit on
                if wrong or self.false_challenge:
                    self.own[(job.id, segment)] = hashes
                    log.info("whistleblower: job %d segment %d %s; challenging", job.id, segment,
                             "does not reproduce" if wrong else "reproduces (false challenge on purpose)")
                    self.node.send(calls.challenge(job.id, segment), f"challenge job {job.id} segment {segment}")
                    break
        self.play_challenges()


# A referee's vote when the state at s cannot be recomputed from: the published blob does not hash to the
# agreed H[s] (or does not load), it stayed unavailable for half the vote period, or s = 0 and the agreed H[0]
# is not the spec's initial state. It is not the solver's H[s+1], so a quorum of it decides for the challenger:
# the solver owed a usable state and did not deliver one.
UNUSABLE_STATE_VOTE = blake2_256(b"gradchain/referee/unusable-state")


class _Unavailable:
    """What `Referee.fetch_state` returns for a blob that stayed unavailable."""


UNAVAILABLE = _Unavailable()


class Referee(Role):
    """Run beside a validator (signing with its stash key): recompute the single disputed step and vote."""

    name = "referee"

    def __init__(self, node: MarketNode, **kw):
        super().__init__(node, **kw)
        self.first_seen: dict[int, int] = {}  # dispute -> head when this referee first saw it in VOTING

    def tick(self) -> None:
        for dispute in self.node.open_disputes():
            if dispute.phase != "VOTING" or ("vote", dispute.id) in self.acted:
                continue
            job = self.node.job(dispute.job_id)
            if self.me in (bytes(job.solver), bytes(dispute.challenger)):
                continue
            vote = self.recompute(job, dispute)
            if vote is None:
                continue
            if self.node.send(calls.referee_vote(dispute.id, vote), f"vote in dispute {dispute.id}"):
                self.acted.add(("vote", dispute.id))
                what = "the published state is unusable" if vote == UNUSABLE_STATE_VOTE else \
                    "the checkpoint is available" if dispute.kind == "AVAILABILITY" else \
                    f"recomputed H[{dispute.lo + 1}] = 0x{vote.hex()[:16]}"
                log.info("referee: dispute %d: %s", dispute.id, what)

    def recompute(self, job, dispute) -> bytes | None:
        """This referee's vote, or None to wait (the state blob may still be on its way)."""
        from compute_market.worker.trainer import (
            EnvironmentRefused,
            StateMismatch,
            TrainerError,
            recompute_step,
        )
        state = None
        if dispute.kind == "AVAILABILITY" or dispute.lo > 0:  # the state at 0 follows from the spec
            state = self.fetch_state(dispute)
            if state is None:
                return None
            if state is UNAVAILABLE:
                return UNUSABLE_STATE_VOTE
        if dispute.kind == "AVAILABILITY":  # fetched (and its hash checked by the blob service)
            return bytes(dispute.hi_hash)
        ctx = self.context(job)
        try:
            return recompute_step(ctx.spec, ctx.dataset, state, expected_hash=bytes(dispute.lo_hash))
        except EnvironmentRefused as e:  # this machine cannot judge: abstain rather than vote "unusable"
            log.error("referee: dispute %d: not voting, this machine cannot run exact mode: %s", dispute.id, e)
            return None
        except (StateMismatch, TrainerError, ValueError) as e:
            log.warning("referee: dispute %d: the published state is unusable: %s", dispute.id, e)
            return UNUSABLE_STATE_VOTE

    def fetch_state(self, dispute) -> bytes | _Unavailable | None:
        """The dispute's state blob (fetched by the node from its peers if need be); None while it may still
        come, UNAVAILABLE once half the vote period has passed without it."""
        try:
            return self.node.blob(bytes(dispute.state_blob))
        except ClientError as e:
            head = self.node.head()
            first = self.first_seen.setdefault(dispute.id, head)
            if head - first < (dispute.deadline - first) // 2:
                log.info("referee: dispute %d: the blob is not available yet (%s)", dispute.id, e)
                return None
            log.warning("referee: dispute %d: the blob stayed unavailable: %s", dispute.id, e)
            return UNAVAILABLE


ROLES = {"solver": Solver, "verifier": Verifier, "whistleblower": Whistleblower, "referee": Referee}


def wait_until(predicate: Callable[[], bool], timeout: float, poll: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return False
