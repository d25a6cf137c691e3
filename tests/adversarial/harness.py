"""A real dev chain with short windows and the market's CLI workers as processes, for the adversarial suite
and `benchmarks/bench_market_dispute.py`.

One validator (Alice) runs a node process on loopback from a chain spec written to a temporary directory:
genesis/dev.json with the market's time floors cut to seconds and small block windows (`FAST_MARKET`), and
a winner share plus burn share below 100% so the "rest stays with the loser" rule is exercised. Every role
runs as its own process: `gradchain worker referee|verifier|whistleblower|solver`, a cheating solver as
`python -m tests.adversarial.cheater --cheat CLASS`, and a dishonest auditor as `python -m
compute_market.adversary worker verifier-lazy|whistleblower-false`. The referee, the verifier and one
whistleblower stay up for the whole chain; each job brings its own solver (honest or cheating) and any extra
challenger.

`Market.play` runs one job end to end and returns a `JobRun`: the settled job and disputes, the snapshots
before the submission and after the settlement, and the ledger of the blocks between (fees, burns, moves).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from chain.node.launcher import LocalNetwork
from chain.primitives.crypto import Keypair
from chain.storage.overlay import MemoryBackend
from compute_market.jobspec import AdamWSpec, ConstantSchedule, JobSpec, MlpSpec
from compute_market.pallet.types import MarketConfig
from compute_market.worker import client as calls
from compute_market.worker.client import MarketNode
from compute_market.worker.datasets import Dataset, dataset_hash, gaussian_blobs
from compute_market.worker.roles import wait_until
from runtime.chain_spec import load_chain_spec
from runtime.pallets import staking
from tests.adversarial.ledger import Ledger, Snapshot, chain_time_ms, read_ledger, take_snapshot
from tests.adversarial.settlement import Outcome, settlement_errors

ROOT = Path(__file__).resolve().parents[2]
UNIT = 10**12
PAYMENT = 10 * UNIT
SOLVER_STAKE = 1000 * UNIT

# Secret URIs of the parties; the referee signs with the validator's stash, the author is the validator.
PARTIES = {
    "submitter": "//Ferdie",
    "solver": "//Charlie",
    "verifier": "//Dave",
    "whistleblower": "//Eve",
    "second whistleblower": "//Bob",
    "referee": "//Alice//stash",
}
AUTHOR = "//Alice"

# Seconds, not minutes: every floor is a few seconds, block windows a few blocks (chain time rules anyway).
FAST_MARKET = {
    "challengeWindow": 4,
    "moveDeadline": 3,
    "votePeriod": 3,
    "commitTimeout": 30,
    "assignmentDelay": 1,
    "finalizeGrace": 1,
    "commitFloorMs": 30_000,
    "challengeFloorMs": 10_000,
    "moveFloorMs": 8_000,
    "voteFloorMs": 8_000,
    "winnerShare": 400_000_000,
    "burnShare": 500_000_000,
}
BLOCK_INTERVAL = 0.4
ENDED = ("FINALIZED", "SLASHED", "REJECTED", "CANCELLED")


def account(uri: str) -> bytes:
    return Keypair.from_uri(uri).public


def write_chain_spec(path: Path, market: dict = FAST_MARKET) -> Path:
    """genesis/dev.json with the market parameters overridden (camelCase MarketConfig fields)."""
    doc = json.loads((ROOT / "genesis" / "dev.json").read_text())
    doc["name"], doc["id"] = "Adversarial", "adversarial"
    doc["parameters"]["computeMarket"].update(market)
    path.write_text(json.dumps(doc, indent=1))
    return path


def tiny_dataset() -> Dataset:
    return gaussian_blobs(seed=11, n_train=256, n_test=64, input_dim=16, num_classes=4)


def tiny_spec(dataset_hash: bytes, seed: int, steps: int = 40, interval: int = 10) -> JobSpec:
    """A 16-32-4 MLP, batch 16, 40 steps, 4 checkpoints: about a second of training on one core."""
    return JobSpec(
        model=MlpSpec(input_dim=16, hidden=(32,), num_classes=4),
        dataset_hash=dataset_hash,
        optimizer=AdamWSpec(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
        schedule=ConstantSchedule(),
        batch_size=16,
        steps=steps,
        seed=seed,
        checkpoint_interval=interval,
    )


class WorkerProcess:
    """One worker as a process, its output in a log file beside the chain's."""

    def __init__(self, name: str, argv: list[str], log_path: Path):
        self.name, self.argv, self.log_path = name, argv, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the role's loop has started (it logs "<role> worker for 0x..."), so it sees the next job."""

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            return self.log_path.exists() and " worker for 0x" in self.log_path.read_text(errors="replace")

        if not wait_until(ready, timeout, poll=0.1):
            raise AssertionError(f"{self.name} did not start within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


@dataclass
class JobRun:
    """One job from submission to settlement, with the balances around it and the ledger between."""

    job: object  # market_pb2.Job, settled
    disputes: list  # market_pb2.Dispute, every one opened on the job
    before: Snapshot
    after: Snapshot
    ledger: Ledger
    start_block: int  # the commitment, or the assignment for a job that never got one
    end_block: int  # the job's ending event
    seconds: float  # chain time from start_block to end_block

    @property
    def winners(self) -> list:
        return [d for d in self.disputes if d.outcome == "CHALLENGER_WON"]

    def moves(self) -> list:
        """The parties' market extrinsics from the commitment (or assignment) to the settlement."""
        return [m for m in self.ledger.moves if self.start_block <= m.block <= self.end_block]


class Market:
    """The chain, the long-lived workers, and what a test needs to run one job and check its settlement."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        spec_path = write_chain_spec(self.workdir / "chain-spec.json")
        spec = load_chain_spec(str(spec_path))
        self.config: MarketConfig = spec.configs[MarketConfig]
        # block authors (fee recipients) are named by an Aura slot into this set, fixed in the suite's chain
        self.authors = [key for key, _stake in staking.validator_set(MemoryBackend(spec.genesis_storage))]
        self.net = LocalNetwork(
            self.workdir / "chain",
            chain=str(spec_path),
            validators=("Alice",),
            idle_block_interval=BLOCK_INTERVAL,
        )
        self.accounts = {name: account(uri) for name, uri in PARTIES.items()}
        self.names = {a: name for name, a in self.accounts.items()} | {account(AUTHOR): "author"}
        self.services: list[WorkerProcess] = []
        self.seeds = iter(range(100, 10_000))
        self.started = 0  # worker processes so far: each gets its own log file
        self.reader: MarketNode | None = None

    # --- lifetime -----------------------------------------------------------------------------------------

    def __enter__(self) -> Market:
        self.net.__enter__()
        try:
            self.net.wait_height(1, timeout=90)
            self.addr = self.net.nodes[0].grpc_addr
            self.reader = MarketNode(self.addr)
            self.services = [
                self.worker("referee", "referee").start(),
                self.worker("verifier", "verifier").start(),
                self.worker("whistleblower", "whistleblower").start(),
            ]
            for w in self.services:
                w.wait_ready()
            self.send("solver", calls.register_solver(SOLVER_STAKE), "register solver")
            self.send("verifier", calls.register_verifier(), "register verifier")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for w in self.services:
            w.stop()
        for node in self.net.nodes:
            node.kill9()
        if self.reader is not None:
            self.reader.close()

    # --- parties ------------------------------------------------------------------------------------------

    def node(self, party: str) -> MarketNode:
        return MarketNode(self.addr, Keypair.from_uri(PARTIES[party]))

    def send(self, party: str, call: bytes, what: str) -> None:
        node = self.node(party)
        try:
            if not node.send(call, what, wait=True):
                raise AssertionError(f"{party}: {what} did not succeed on chain")
        finally:
            node.close()

    def _argv_common(self, party: str, state: str) -> list[str]:
        return [
            "--key",
            PARTIES[party],
            "--node",
            self.addr,
            "--state-dir",
            str(self.workdir / state),
            "--poll",
            "0.2",
        ]

    def _log_path(self, label: str) -> Path:
        self.started += 1
        return self.workdir / f"{self.started:02d}-{label}.log"

    def worker(self, role: str, party: str, *flags: str, label: str | None = None) -> WorkerProcess:
        """`gradchain worker ROLE` for a party, not started."""
        label = label or role
        argv = [sys.executable, "-m", "chain.cli", "worker", role, *self._argv_common(party, label), *flags]
        return WorkerProcess(label, argv, self._log_path(label))

    def adversary(self, role: str, party: str, *flags: str, label: str | None = None) -> WorkerProcess:
        """A dishonest auditor, `python -m compute_market.adversary worker ROLE`, for a party, not started."""
        label = label or role
        argv = [
            sys.executable,
            "-m",
            "compute_market.adversary",
            "worker",
            role,
            *self._argv_common(party, label),
            *flags,
        ]
        return WorkerProcess(label, argv, self._log_path(label))

    def cheater(self, cheat: str) -> WorkerProcess:
        """A cheating solver (tests/adversarial/cheater.py) for the solver account, not started."""
        label = f"cheater-{cheat}"
        argv = [
            sys.executable,
            "-m",
            "tests.adversarial.cheater",
            "--cheat",
            cheat,
            *self._argv_common("solver", label),
        ]
        return WorkerProcess(label, argv, self._log_path(label))

    # --- jobs ---------------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return take_snapshot(self.reader.chain, list(self.names))

    def upload(self, blob: bytes) -> bytes:
        node = self.node("submitter")
        try:
            return node.put_blob(blob)
        finally:
            node.close()

    def submit(self, spec: JobSpec) -> int:
        before = {j.id for j in self.reader.jobs()}
        self.send("submitter", calls.submit_job(spec.encode(), PAYMENT), "submit job")
        submitter = self.accounts["submitter"]
        return max(j.id for j in self.reader.jobs() if j.id not in before and bytes(j.submitter) == submitter)

    def submit_raw(self, spec: bytes):
        """Sign and send a submit_job of arbitrary spec bytes; the final ExtrinsicStatus (success, reason)."""
        node = self.node("submitter")
        try:
            return node.chain.submit_and_watch(node.chain.sign(node.keypair, calls.submit_job(spec, PAYMENT)))
        finally:
            node.close()

    def wait_ended(self, job_id: int, timeout: float, workers: list[WorkerProcess], on_commit=None):
        """The job once it has ended; `on_commit(job)` runs once, as soon as the job is seen committed."""
        pending = [on_commit] if on_commit is not None else []

        def ended() -> bool:
            job = self.reader.job(job_id)
            if pending and job.status in ("COMMITTED", "ATTESTED"):
                pending.pop()(job)
            return job.status in ENDED

        if wait_until(ended, timeout):
            return self.reader.job(job_id)
        logs = "\n".join(f"--- {w.name} ---\n{w.log_tail()}" for w in [*workers, *self.services])
        raise AssertionError(
            f"job {job_id} is still {self.reader.job(job_id).status} after {timeout:.0f} s\n"
            f"{[(d.kind, d.phase, d.outcome) for d in self.reader.disputes(job_id)]}\n{logs}\n"
            f"--- node ---\n{self.net.nodes[0].log_tail()}"
        )

    def wait_finalized(self, blocks: int = 2) -> None:
        """Let moves already sent land: wait until `blocks` more blocks are final."""
        target = self.reader.chain.info().finalized_number + blocks
        self.net.wait_for(lambda: self.reader.chain.info().finalized_number >= target, 30, f"block #{target}")

    def close_span(self, before: Snapshot) -> tuple[Snapshot, Ledger]:
        """Once moves already sent have landed: the snapshot now, and the ledger of the blocks since `before`."""
        self.wait_finalized()
        live = [(j.id, j.status) for j in self.reader.jobs() if j.status not in ENDED]
        assert not live, f"jobs still live after the span, which would leak into the next one: {live}"
        after = self.snapshot()
        return after, read_ledger(self.reader.chain, before.block + 1, after.block, self.authors)

    def play(
        self,
        solver: WorkerProcess,
        dataset: bytes | None = None,
        upload: bool = True,
        challengers: tuple[WorkerProcess, ...] = (),
        steps: int = 40,
        interval: int = 10,
        on_commit=None,
        timeout: float = 150.0,
    ) -> JobRun:
        """Run one job: start its workers, submit a tiny job of `steps` steps on `dataset` (default: a good
        one), wait for it to end (calling `on_commit(job)` once it is committed), let in-flight moves land,
        stop the workers, and read the balances and the ledger."""
        blob = tiny_dataset().to_bytes() if dataset is None else dataset
        workers = [solver, *challengers]
        for w in workers:
            w.start()
        try:
            for w in workers:
                w.wait_ready()
            data_hash = self.upload(blob) if upload else dataset_hash(blob)
            before = self.snapshot()
            job_id = self.submit(tiny_spec(data_hash, next(self.seeds), steps, interval))
            job = self.wait_ended(job_id, timeout, workers, on_commit)
            after, ledger = self.close_span(before)
        finally:
            for w in workers:
                w.stop()
        start = (
            ledger.first_block_of("ResultCommitted") or ledger.first_block_of("JobAssigned") or before.block
        )
        end = next(
            n
            for n, name, f in ledger.market_events
            if name in ("JobFinalized", "JobSlashed", "JobRejected") and int(f["job_id"]) == job.id
        )
        seconds = (chain_time_ms(self.reader.chain, end) - chain_time_ms(self.reader.chain, start)) / 1000
        return JobRun(job, self.reader.disputes(job.id), before, after, ledger, start, end, seconds)

    # --- checks -------------------------------------------------------------------------------------------

    def assert_settled(self, run: JobRun, outcome: Outcome) -> None:
        """Every watched account moved by exactly the documented outcome, fees read from the chain."""
        errors = settlement_errors(run.before, run.after, run.ledger, outcome, self.names)
        assert not errors, "\n".join(errors) + f"\ndisputes: {describe_disputes(run.disputes)}"

    def assert_span_settled(self, before: Snapshot, outcome: Outcome) -> None:
        """Like `assert_settled`, for the blocks from `before` to now (no job run around them)."""
        after, ledger = self.close_span(before)
        errors = settlement_errors(before, after, ledger, outcome, self.names)
        assert not errors, "\n".join(errors)

    def changes_fees_aside(self, run: JobRun) -> dict[str, int]:
        """Each party's change in free + reserved over the job's span, with the fees it paid added back and
        the fees it received as author taken out."""
        return {
            name: run.before.delta(run.after, a) + run.ledger.fees_paid[a] - run.ledger.fees_received[a]
            for a, name in self.names.items()
        }

    def summary(self, run: JobRun) -> dict:
        """The figures a report gives: verdict, balance changes (fees aside), fees, burn, moves, seconds."""
        changes = self.changes_fees_aside(run)
        moves: dict[str, int] = {}
        for m in run.moves():
            key = f"{self.party_of(m.signer)}.{m.call}"
            moves[key] = moves.get(key, 0) + 1
        return {
            "status": run.job.status,
            "disputes": [list(d) for d in describe_disputes(run.disputes)],
            "balance_changes_fees_aside": {k: v for k, v in changes.items() if v},
            "fees": {self.party_of(a): f for a, f in run.ledger.fees_paid.items()},
            "burned": run.ledger.burned,
            "issuance_change": run.after.issuance - run.before.issuance,
            "onchain_moves": len(run.moves()),
            "moves": moves,
            "bisection_rounds": run.ledger.count("Responded"),
            "votes": run.ledger.count("RefereeVoted"),
            "seconds": round(run.seconds, 2),
        }

    def party_of(self, account_id: bytes) -> str:
        return self.names.get(bytes(account_id), "0x" + bytes(account_id).hex()[:16])


def describe_disputes(disputes) -> list[tuple]:
    return [(d.id, d.kind, d.segment, d.lo, d.hi, d.outcome, d.resolution) for d in disputes]


__all__ = ["JobRun", "Market", "PAYMENT", "UNIT", "WorkerProcess", "tiny_dataset", "tiny_spec"]
