"""A small test chain for the market (`new_test_ext` in FRAME terms) and scripted dispute actors.

`Market` builds the dev chain spec with test parameters and four equal-stake validators (the referees),
runs real blocks through the executive (timestamp inherent, on_initialize, on_finalize), and dispatches
calls either directly (`call`, all-or-nothing like Substrate's `Pallet::call`) or as signed extrinsics
(`submit`, fees and nonces included). The benchmark uses it too.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import dataclass, field

from chain.primitives.crypto import Keypair, dev_keypair, encode_address
from chain.primitives.hashing import blake2_256
from chain.storage.overlay import MemoryBackend, Overlay
from compute_market.commitment import Evaluation, StepCommitment, encode_step_hashes
from compute_market.jobspec import ConstantSchedule, JobSpec, MlpSpec, SgdSpec
from compute_market.pallet import calls, dispute
from compute_market.pallet.types import UNIT, Dispute, DisputePhase, Disputes, Job, Jobs
from runtime.block_builder import timestamp_inherent
from runtime.chain_spec import GENESIS_DIR, parse_chain_spec
from runtime.executive import ApplyOutcome, Executive
from runtime.frame.pallet import Call, CallDef, dispatch_transactional, externalities
from runtime.frame.support import ROOT, Origin
from runtime.pallets import balances

ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE = (
    dev_keypair(n) for n in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
)
REFEREES = tuple(dev_keypair(f"Referee{i}") for i in range(4))
ENDOWMENT = 1_000_000 * UNIT
REFEREE_BOND = 10_000 * UNIT
EVALUATION = Evaluation(0x3FE0000000000000, 61, 64)  # loss 0.5, 61 of 64 test examples right

TEST_PARAMETERS = {
    "minSolverStake": 100 * UNIT,
    "jobStakeLock": 10 * UNIT,
    "jobStakeRatio": 500_000_000,
    "verifierFee": UNIT,
    "verifierBond": 50 * UNIT,
    "sampleSegments": 2,
    "challengeWindow": 8,
    "moveDeadline": 3,
    "votePeriod": 4,
    "challengerBond": 10 * UNIT,
    "winnerShare": 500_000_000,
    "burnShare": 500_000_000,
    "refereeQuorum": 666_666_667,
    "maxSpecBytes": 4096,
    "maxSteps": 100_000,
    "assignmentDelay": 2,
    "commitTimeout": 10,
    "unbondingDelay": 5,
    "finalizeGrace": 2,
    "maxOpenDisputes": 16,
    # no time floors: these tiny jobs' windows are their block counts (2 s blocks); test_windows sets them
    "commitFloorMs": 0,
    "challengeFloorMs": 0,
    "moveFloorMs": 0,
    "voteFloorMs": 0,
}


def make_spec(steps: int = 64, interval: int = 16, seed: int = 1) -> bytes:
    return JobSpec(
        MlpSpec(8, (16,), 3),
        bytes(32),
        SgdSpec(0.1, 0.0, 0.0),
        ConstantSchedule(),
        batch_size=8,
        steps=steps,
        seed=seed,
        checkpoint_interval=interval,
    ).encode()


def true_hashes(steps: int) -> list[bytes]:
    return [blake2_256(b"honest" + i.to_bytes(4, "little")) for i in range(steps + 1)]


def lying_hashes(steps: int, from_step: int) -> list[bytes]:
    """An honest run up to `from_step` - 1; every hash from `from_step` on is wrong."""
    return [
        h if i < from_step else blake2_256(b"lie" + i.to_bytes(4, "little"))
        for i, h in enumerate(true_hashes(steps))
    ]


def account(who: Keypair | bytes) -> bytes:
    return who if isinstance(who, bytes) else who.public


class Market:
    """The chain at an open block `block`; `advance` seals it and opens the next.

    An open-block test externality, as FRAME's TestExternalities: the runtime's own `Executive` opens each
    block (timestamp inherent included), calls run through the runtime's `dispatch_transactional` as a signed
    extrinsic's would, and `advance` seals with `Executive.finalize_block` (hooks, events, the header). It
    skips what the market's rules never read, the state root and signature checks; blocks of signed
    extrinsics go through `runtime.block_builder` in tests/runtime (`TestExt.produce_block`) and on the
    dev chains of tests/integration."""

    def __init__(self, block_ms: int = 2_000, **parameters: int):
        self.block_ms = block_ms  # chain time between blocks (the timestamp inherent's step)
        doc = json.loads((GENESIS_DIR / "dev.json").read_text())
        doc["parameters"]["computeMarket"] = {**TEST_PARAMETERS, **parameters}
        config = doc["genesis"]["runtimeGenesis"]["config"]
        config["balances"]["balances"] = [
            [encode_address(k.public), ENDOWMENT] for k in (ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, *REFEREES)
        ]
        config["staking"]["stakers"] = [
            [encode_address(k.public), "0x" + blake2_256(k.public).hex(), REFEREE_BOND] for k in REFEREES
        ]
        doc["parameters"]["staking"]["minValidatorBond"] = UNIT
        spec = parse_chain_spec(doc)
        self.runtime = spec.runtime()
        self.backend = MemoryBackend(spec.genesis_storage)
        self.head_hash = spec.genesis_hash
        self.number = 0
        self.now_ms = 1_700_000_000_000
        self.open_block()

    # --- blocks -----------------------------------------------------------------------------------------

    @property
    def block(self) -> int:
        """The number of the open block, in which calls run."""
        return self.number + 1

    def open_block(self) -> None:
        self.state = Overlay(self.backend)
        self.executive = Executive(self.runtime, self.state)
        self.executive.initialize_block(self.head_hash, self.number + 1)
        self.now_ms += self.block_ms
        self.executive.apply_extrinsic(timestamp_inherent(self.now_ms))

    def advance(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            finalized = self.executive.finalize_block(lambda changes: bytes(32))
            self.backend.apply(finalized.changes)
            self.head_hash = finalized.header.hash
            self.number += 1
            self.open_block()

    def advance_to(self, block: int) -> None:
        self.advance(block - self.block)

    # --- dispatch ---------------------------------------------------------------------------------------

    @contextmanager
    def ext(self):
        with externalities(self.state, self.executive.env):
            yield

    def call(self, who, fn: CallDef, *args) -> None:
        """Dispatch directly, all or nothing; a failure raises and leaves state and events as they were."""
        origin = ROOT if who is None else Origin.signed(account(who))
        with self.ext():
            error = dispatch_transactional(
                Call(fn, args), origin
            )  # the runtime's own all-or-nothing dispatch
        if error is not None:
            raise error

    def signed_extrinsic(self, who: Keypair, fn: CallDef, *args) -> bytes:
        from chain.primitives.extrinsic import sign_extrinsic
        from runtime.pallets.system import account_nonce

        with self.ext():
            nonce = account_nonce(who.public)
        v = self.runtime.version
        return sign_extrinsic(
            who,
            Call(fn, args).encode(),
            nonce=nonce,
            spec_version=v.spec_version,
            tx_version=v.transaction_version,
            genesis_hash=self.runtime.genesis_hash,
        ).encode()

    def submit(self, who: Keypair, fn: CallDef, *args) -> tuple[bytes, ApplyOutcome]:
        """Apply a signed extrinsic in the open block; returns its bytes and outcome."""
        raw = self.signed_extrinsic(who, fn, *args)
        return raw, self.executive.apply_extrinsic(raw)

    # --- reading ----------------------------------------------------------------------------------------

    def events(self) -> list[tuple[str, str, tuple]]:
        return [(e.pallet, e.name, e.args) for _, e in self.executive.env.events]

    def market_events(self) -> list[tuple[str, tuple]]:
        return [(n, a) for p, n, a in self.events() if p == "ComputeMarket"]

    def contents(self) -> dict[bytes, bytes]:
        return dict(self.state.iter_prefix(b""))

    def job(self, job_id: int) -> Job:
        with self.ext():
            return Jobs.get(job_id)

    def dispute(self, dispute_id: int) -> Dispute:
        with self.ext():
            return Disputes.get(dispute_id)

    def free(self, who) -> int:
        with self.ext():
            return balances.free_balance(account(who))

    def reserved(self, who) -> int:
        with self.ext():
            return balances.reserved_balance(account(who))

    def issuance(self) -> int:
        with self.ext():
            return balances.total_issuance()

    def segments(self, job_id: int) -> list[int] | None:
        with self.ext():
            return calls.sampled_segments(Jobs.get(job_id))

    # --- arranging --------------------------------------------------------------------------------------

    def assigned_job(
        self, solver=BOB, submitter=ALICE, steps: int = 64, interval: int = 16, payment: int = 20 * UNIT
    ) -> Job:
        """A job assigned to `solver` (the only registered solver unless others registered already)."""
        with self.ext():
            from compute_market.pallet.types import Solvers

            registered = Solvers.contains(account(solver))
        if not registered:
            self.call(solver, calls.register_solver, 1_000 * UNIT)
        self.call(submitter, calls.submit_job, make_spec(steps, interval), payment)
        with self.ext():
            from compute_market.pallet.types import NextJobId

            job_id = NextJobId.get() - 1
        self.advance_to(self.job(job_id).deadline)
        return self.job(job_id)

    def committed_job(
        self, hashes: list[bytes] | None = None, evaluation: Evaluation = EVALUATION, **kwargs
    ) -> tuple[Job, StepCommitment]:
        job = self.assigned_job(**kwargs)
        commitment = StepCommitment(hashes or true_hashes(job.steps))
        checkpoints = [blake2_256(b"ckpt" + j.to_bytes(4, "little")) for j in range(job.segment_count)]
        hash_list = blake2_256(encode_step_hashes(commitment.hashes))
        self.call(
            job.solver,
            calls.commit_result,
            job.id,
            commitment.root,
            commitment.hashes[-1],
            hash_list,
            checkpoints,
            evaluation.loss_bits,
            evaluation.correct,
            evaluation.count,
        )
        return self.job(job.id), commitment


@dataclass
class Solver:
    """A scripted solver: answers every reveal from its own (honest or lying) run."""

    keypair: Keypair
    commitment: StepCommitment

    def move(self, m: Market, dispute_id: int) -> CallDef | None:
        d = m.dispute(dispute_id)
        step = d.next_step
        if step is not None and d.phase.name == "REVEAL":
            step_hash, proof = self.commitment.open(step)
            m.call(self.keypair, dispute.reveal, dispute_id, step_hash, proof)
            return dispute.reveal
        if d.phase.name == "STEP_STATE":
            state = self.commitment.hashes[d.lo]
            m.call(self.keypair, dispute.submit_step_state, dispute_id, blake2_256(b"blob" + state), state)
            return dispute.submit_step_state
        return None


@dataclass
class Challenger:
    """A scripted challenger: agrees with a revealed hash iff it matches its own replay."""

    keypair: Keypair
    hashes: list[bytes]

    def move(self, m: Market, dispute_id: int) -> CallDef | None:
        d = m.dispute(dispute_id)
        if d.phase.name != "RESPONSE":
            return None
        mid = (d.lo + d.hi) // 2
        m.call(self.keypair, dispute.respond, dispute_id, d.revealed == self.hashes[mid])
        return dispute.respond


def successor(truth: list[bytes], state_hash: bytes) -> bytes:
    """The fake world's step function: the true run's next hash, or garbage after a state off the true run
    (so every step a liar takes after its first lie is an invalid transition)."""
    index = {h: i for i, h in enumerate(truth)}.get(state_hash)
    if index is not None and index + 1 < len(truth):
        return truth[index + 1]
    return blake2_256(b"successor" + state_hash)


@dataclass
class Referees:
    """Honest referees: they recompute H[s+1] from the published state at s."""

    truth: list[bytes]
    keypairs: tuple[Keypair, ...] = REFEREES
    voted: list[Keypair] = field(default_factory=list)

    def vote(self, m: Market, dispute_id: int, count: int | None = None) -> None:
        d = m.dispute(dispute_id)
        for k in self.keypairs[:count]:
            if m.dispute(dispute_id).phase.name != "VOTING":
                return
            m.call(k, dispute.referee_vote, dispute_id, successor(self.truth, d.lo_hash))
            self.voted.append(k)


def play(
    m: Market,
    dispute_id: int,
    solver: Solver,
    challenger: Challenger,
    referees: Referees,
    one_move_per_block: bool = True,
) -> list[CallDef]:
    """Play a dispute to its end, move by move; returns the calls made."""
    moves: list[CallDef] = []
    while m.dispute(dispute_id).phase.name != "RESOLVED":
        phase = m.dispute(dispute_id).phase.name
        if phase == "VOTING":
            referees.vote(m, dispute_id)
            moves.append(dispute.referee_vote)
            continue
        made = (
            solver.move(m, dispute_id)
            if phase in ("REVEAL", "STEP_STATE")
            else challenger.move(m, dispute_id)
        )
        assert made is not None, f"nobody could move in phase {phase}"
        moves.append(made)
        if one_move_per_block:
            m.advance()
    return moves


def dispute_cost(k: int, steps: int) -> dict:
    """Play one full dispute over segment 0 (k steps) of a `steps`-step job as signed extrinsics, the liar's
    first wrong step being the segment's last (the most reveal rounds); count what it put on chain."""
    m = Market(maxSteps=max(steps, 100_000), moveDeadline=50)
    truth = true_hashes(steps)
    job, commitment = m.committed_job(hashes=lying_hashes(steps, k), steps=steps, interval=k)
    spent: list[tuple[bytes, object]] = []

    def send(who, fn, *args) -> None:
        raw, outcome = m.submit(who, fn, *args)
        assert outcome.ok, f"{fn.name} failed: {outcome.error!r}"
        spent.append((raw, outcome.info.weight))

    send(CHARLIE, dispute.challenge, job.id, 0)
    d = m.job(job.id).open_disputes[0]
    while (state := m.dispute(d)).phase is not DisputePhase.RESOLVED:
        if state.phase is DisputePhase.REVEAL:
            send(BOB, dispute.reveal, d, *commitment.open(state.next_step))
        elif state.phase is DisputePhase.RESPONSE:
            send(CHARLIE, dispute.respond, d, state.revealed == truth[(state.lo + state.hi) // 2])
        elif state.phase is DisputePhase.STEP_STATE:
            send(BOB, dispute.submit_step_state, d, bytes(32), state.lo_hash)
        else:
            for referee in REFEREES:
                if m.dispute(d).phase is DisputePhase.VOTING:
                    send(referee, dispute.referee_vote, d, successor(truth, state.lo_hash))
        m.advance()
    assert m.dispute(d).outcome.name == "CHALLENGER_WON"
    return {
        "k": k,
        "steps": steps,
        "log2_k": math.log2(k),
        "bisection_rounds": math.ceil(math.log2(k)),
        "extrinsics": len(spent),
        "bytes": sum(len(raw) for raw, _ in spent),
        "ref_time": sum(w.ref_time for _, w in spent),
        "proof_size": sum(w.proof_size for _, w in spent),
    }
