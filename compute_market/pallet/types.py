"""The market's declarations: config, status enums, stored records, storage items, events and errors.

Everything here is data. The records are plain mutable dataclasses whose SCALE layouts are derived from their
field annotations (`Record`), so what the pallet writes, what metadata describes and what the query API
returns are the same objects, declared once (a gRPC `MarketService` turns them into messages field by field).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Annotated

from chain.primitives.codec import DecodeError, Reader
from compute_market.commitment import Evaluation as CommittedEvaluation
from runtime.frame.pallet import PalletConfig, PalletEvent, event, pallet_events
from runtime.frame.storage import Blake2_128Concat, StorageDoubleMap, StorageMap, StorageValue, Twox64Concat
from runtime.frame.support import PalletError, pallet_errors
from runtime.frame.types import (
    H256,
    PERBILL,
    U32,
    U64,
    U128,
    AccountId,
    Bool,
    Bytes,
    Enum,
    Option,
    Record,
    Tuple,
    Variant,
    Vec,
)

UNIT = 10**12
JobId = U64
DisputeId = U64


@dataclass(frozen=True)
class MarketConfig(PalletConfig):
    """Parameters from the chain spec's `parameters.computeMarket` (camelCase there). Shares are Perbill."""

    min_solver_stake: int = 100 * UNIT
    job_stake_lock: int = 10 * UNIT  # flat part of the stake a solver locks per job ...
    job_stake_ratio: int = 500_000_000  # ... plus this share of the job's payment
    verifier_fee: int = UNIT
    verifier_bond: int = 50 * UNIT
    sample_segments: int = 2  # q: segments a verifier replays
    challenge_window: int = 20  # W: blocks after the commitment during which challenges are accepted
    move_deadline: int = 10  # blocks each party has for its next dispute move
    vote_period: int = 20  # blocks the referees have to reach a quorum
    challenger_bond: int = 10 * UNIT  # per dispute, and per dataset report by a solver
    submission_bond: int = (
        10 * UNIT
    )  # reserved by a submitter per job; slashed if its dataset is proven unusable
    winner_share: int = 500_000_000  # of a loser's slashed stake or bond, to the winner
    burn_share: int = 500_000_000  # of a loser's slashed stake or bond, burned; the rest stays with the loser
    referee_quorum: int = 666_666_667  # a decision needs more than this share of the referees' stake
    max_spec_bytes: int = 4096
    max_steps: int = 100_000
    assignment_delay: int = 2  # blocks between submission and assignment (>= 1)
    commit_timeout: int = 600  # blocks an assigned solver has to commit its result
    unbonding_delay: int = 50  # blocks between `unregister_solver` and `withdraw_unbonded`
    finalize_grace: int = 10  # blocks after the window in which anyone may `finalize` before the chain does
    max_open_disputes: int = 16  # per job, so one job's settlement loop stays bounded
    # Time-based windows (see `windows`): each window also lasts at least this many milliseconds of chain
    # time (Timestamp.now): TimeSafety x the cost model's expected seconds for the work it is for, plus a floor.
    time_safety: int = 4
    commit_floor_ms: int = 60_000  # on top of TimeSafety x the solver's whole run
    challenge_floor_ms: int = 30_000  # on top of TimeSafety x a verifier's replay of q segments
    move_floor_ms: int = (
        10_000  # on top of TimeSafety x loading/publishing one state (reveal, response, state)
    )
    vote_floor_ms: int = 20_000  # on top of TimeSafety x a referee's load + one-step recompute
    block_time_bound_ms: int = 2_000  # blocks assumed at most this slow when waking up for a time deadline

    def __post_init__(self) -> None:
        if self.winner_share + self.burn_share > PERBILL:
            raise ValueError(
                f"winnerShare + burnShare = {self.winner_share + self.burn_share} exceeds 100% ({PERBILL})"
            )
        if not 2 * PERBILL <= 3 * self.referee_quorum < 3 * PERBILL:
            raise ValueError(f"refereeQuorum {self.referee_quorum} must be at least 2/3 and below 100%")
        if self.assignment_delay < 1 or self.move_deadline < 1 or self.vote_period < 1:
            raise ValueError("assignmentDelay, moveDeadline and votePeriod must be at least one block")
        if self.time_safety < 1 or self.block_time_bound_ms < 1:
            raise ValueError("timeSafety and blockTimeBoundMs must be at least 1")
        if self.challenge_window < 2:
            raise ValueError("challengeWindow must leave room for sampling (at least 2 blocks)")

    def job_lock(self, payment: int) -> int:
        return self.job_stake_lock + payment * self.job_stake_ratio // PERBILL

    def shares(self, amount: int) -> tuple[int, int]:
        """(to the winner, burned) out of a slashed `amount`; the rest stays with the loser."""
        return amount * self.winner_share // PERBILL, amount * self.burn_share // PERBILL


# --- enums ----------------------------------------------------------------------------------------------


class JobStatus(IntEnum):
    SUBMITTED = 0  # escrowed, waiting for assignment
    ASSIGNED = 1  # a solver's stake is locked; it trains
    COMMITTED = 2  # root committed; challenge window open
    ATTESTED = 3  # a verifier replayed the sampled segments
    CHALLENGED = 4  # at least one dispute is open
    FINALIZED = 5  # solver paid
    SLASHED = 6  # solver at fault; submitter refunded
    CANCELLED = 7  # withdrawn before assignment
    REJECTED = (
        8  # the referees found the dataset unusable: the submitter's bond was slashed, the escrow refunded
    )

    @property
    def ended(self) -> bool:
        return self >= JobStatus.FINALIZED


class DisputePhase(IntEnum):
    REVEAL = 0  # the solver must reveal H[next_step] with a proof
    RESPONSE = 1  # the challenger must agree or disagree with the revealed H[mid]
    STEP_STATE = 2  # one step left: the solver must publish the full state at lo
    VOTING = 3  # referees recompute H[lo + 1]
    RESOLVED = 4


class DisputeKind(IntEnum):
    """What a dispute is about. Every kind but STEP is an artifact check the referees run straight away."""

    STEP = 0  # the bisection over a segment's steps, ending in a recomputed step
    CHECKPOINT = (
        1  # checkpoint `segment`: fetchable, a valid state at its step, hashing to H[step] of the hash list
    )
    HASH_LIST = 2  # the H[0..T] blob: fetchable, T + 1 hashes whose Merkle root is the committed result_root
    FINAL_MODEL = 3  # final_hash is the model part of the last checkpoint, itself valid with hash H[T]
    DATASET = 4  # reported by the solver: the submitter's dataset is fetchable and valid for the spec
    EVALUATION = 5  # the committed evaluation is the last checkpoint's (valid at T) on the held-out split

    @property
    def artifact(self) -> bool:
        """The solver's artifacts: a fault of one is the solver's, like a wrong step."""
        return self in (
            DisputeKind.CHECKPOINT,
            DisputeKind.HASH_LIST,
            DisputeKind.FINAL_MODEL,
            DisputeKind.EVALUATION,
        )


# challenge_artifact's `kind` argument -> the dispute kind it opens
ARTIFACT_KINDS = {
    0: DisputeKind.CHECKPOINT,
    1: DisputeKind.HASH_LIST,
    2: DisputeKind.FINAL_MODEL,
    3: DisputeKind.EVALUATION,
}


class DisputeOutcome(IntEnum):
    SOLVER_WON = 0
    CHALLENGER_WON = 1
    VOID = 2  # no winner: bond returned (no referee quorum, or another dispute proved the fault first)


class Resolution(IntEnum):
    VOTE = 0
    SOLVER_TIMEOUT = 1
    CHALLENGER_TIMEOUT = 2
    NO_QUORUM = 3
    SUPERSEDED = 4
    SERVED = 5  # an artifact reported unavailable was served and checks out: nobody is provably at fault


class AgendaKind(IntEnum):
    JOB = 0
    DISPUTE = 1


class IntEnumType(Enum):
    """A SCALE unit enum whose Python value is an IntEnum member (the tag is the member's value)."""

    def __init__(self, path: str, py: type[IntEnum]):
        super().__init__(path, [Variant(m.name.title().replace("_", ""), m.value) for m in py])
        self.py = py

    def encode(self, value: IntEnum) -> bytes:
        return bytes([self.py(value).value])

    def decode(self, r: Reader) -> IntEnum:
        tag = r.u8()
        try:
            return self.py(tag)
        except ValueError:
            raise DecodeError(f"{'::'.join(self.path)} has no variant {tag}") from None


JOB_STATUS = IntEnumType("pallet_compute_market::JobStatus", JobStatus)
DISPUTE_PHASE = IntEnumType("pallet_compute_market::DisputePhase", DisputePhase)
DISPUTE_OUTCOME = IntEnumType("pallet_compute_market::DisputeOutcome", DisputeOutcome)
DISPUTE_KIND = IntEnumType("pallet_compute_market::DisputeKind", DisputeKind)
RESOLUTION = IntEnumType("pallet_compute_market::Resolution", Resolution)
AGENDA_KIND = IntEnumType("pallet_compute_market::AgendaKind", AgendaKind)

# --- records --------------------------------------------------------------------------------------------
# Each record is one dataclass; its SCALE layout (`Record`) is derived from the field annotations:
# Annotated[Python type, SCALE descriptor, the type name metadata shows].

Account = Annotated[bytes, AccountId, "AccountId"]
Hash = Annotated[bytes, H256, "H256"]
Amount = Annotated[int, U128, "Balance"]
Block = Annotated[int, U32, "BlockNumber"]
Count = Annotated[int, U32, "u32"]
MaybeAccount = Annotated[bytes | None, Option(AccountId), "Option<AccountId>"]
MaybeHash = Annotated[bytes | None, Option(H256), "Option<H256>"]


@dataclass
class Evaluation:
    """The final model's figures on the held-out split, as committed (`commitment.Evaluation`, which says
    what they mean; compute_market/worker/evaluation.py says how they are computed)."""

    loss_bits: Annotated[int, U64, "u64"]  # the IEEE-754 binary64 pattern of the mean cross-entropy
    correct: Count  # test examples whose argmax prediction is the label
    count: Count  # test examples

    def figures(self) -> CommittedEvaluation:
        return CommittedEvaluation(self.loss_bits, self.correct, self.count)


EVALUATION = Record("pallet_compute_market::Evaluation", Evaluation)


@dataclass
class Job:
    id: Annotated[int, JobId, "JobId"]
    submitter: Account
    spec_hash: Hash
    steps: Count
    checkpoint_interval: Count
    payment: Amount
    verifier_fee: Amount
    sample_q: Count  # segments the verifier replays, fixed at submission
    status: Annotated[JobStatus, JOB_STATUS, "JobStatus"]
    submitted_at: Block
    deadline: Block  # the block at which the chain next acts on this job on its own; 0 once it has ended
    solver: MaybeAccount = None
    lock: Amount = 0
    result_root: MaybeHash = None
    final_hash: MaybeHash = None
    checkpoints: Annotated[list[bytes], Vec(H256), "Vec<H256>"] = field(default_factory=list)
    committed_at: Block = 0
    window_end: Block = 0  # last block in which a challenge or an attestation is accepted
    verifier: MaybeAccount = None
    attested_ok: Annotated[list[int], Vec(U32), "Vec<u32>"] = field(default_factory=list)
    disputes: Annotated[list[int], Vec(DisputeId), "Vec<DisputeId>"] = field(
        default_factory=list
    )  # ever opened
    open_disputes: Annotated[list[int], Vec(DisputeId), "Vec<DisputeId>"] = field(default_factory=list)
    submitter_bond: Amount = 0  # reserved with the escrow; slashed only if the dataset is proven unusable
    hash_list: MaybeHash = None  # the blob of H[0..T] (SCALE Vec<[u8; 32]>) named in the commitment
    evaluation: Annotated[Evaluation | None, Option(EVALUATION), "Option<Evaluation>"] = None

    @property
    def segment_count(self) -> int:
        return -(-self.steps // self.checkpoint_interval)

    @property
    def escrow(self) -> int:
        return self.payment + self.verifier_fee


JOB = Record("pallet_compute_market::Job", Job)


@dataclass
class Solver:
    stake: Amount  # reserved on the solver's account
    locked: Amount = 0  # part of the stake backing assigned jobs
    jobs: Count = 0
    # set by unregister_solver: the stake is withdrawable from this block
    unbonding_at: Annotated[int | None, Option(U32), "Option<BlockNumber>"] = None

    @property
    def free_stake(self) -> int:
        return self.stake - self.locked


SOLVER = Record("pallet_compute_market::Solver", Solver)


@dataclass
class Verifier:
    bond: Amount


VERIFIER = Record("pallet_compute_market::Verifier", Verifier)


@dataclass
class Dispute:
    """The bisection game on one segment: H[lo] is agreed (or the segment's start), H[hi] is disputed."""

    id: Annotated[int, DisputeId, "DisputeId"]
    job_id: Annotated[int, JobId, "JobId"]
    challenger: Account
    bond: Amount
    segment: Count
    lo: Count
    hi: Count
    phase: Annotated[DisputePhase, DISPUTE_PHASE, "DisputePhase"]
    deadline: Block  # the block by which the party named by `phase` must move
    opened_at: Block
    lo_hash: MaybeHash = None
    hi_hash: MaybeHash = None
    revealed: MaybeHash = None  # H[mid], awaiting the challenger's answer
    state_blob: MaybeHash = None
    referee_stake: Amount = 0
    tally: Annotated[list[tuple[bytes, int]], Vec(Tuple(H256, U128)), "Vec<(H256, Balance)>"] = field(
        default_factory=list
    )
    outcome: Annotated[DisputeOutcome | None, Option(DISPUTE_OUTCOME), "Option<DisputeOutcome>"] = None
    resolution: Annotated[Resolution | None, Option(RESOLUTION), "Option<Resolution>"] = None
    kind: Annotated[DisputeKind, DISPUTE_KIND, "DisputeKind"] = DisputeKind.STEP
    # an artifact challenge's claim: it could not be fetched (else: it was fetched and fails its check)
    unavailable: Annotated[bool, Bool, "bool"] = False

    @property
    def next_step(self) -> int | None:
        """The step whose hash the solver must reveal next; None when no reveal is due."""
        if self.hi - self.lo > 1:
            return (self.lo + self.hi) // 2
        if self.lo_hash is None:
            return self.lo
        if self.hi_hash is None:
            return self.hi
        return None


DISPUTE = Record("pallet_compute_market::Dispute", Dispute)

AGENDA_ITEM = Tuple(AGENDA_KIND, U64)

# --- storage --------------------------------------------------------------------------------------------

P = "ComputeMarket"
NextJobId = StorageValue(P, "NextJobId", JobId, default=0, docs="The id the next submitted job gets.")
Jobs = StorageMap(P, "Jobs", Twox64Concat, JobId, JOB, docs="Every job, ended ones included (for queries).")
JobSpecs = StorageMap(P, "JobSpecs", Twox64Concat, JobId, Bytes, docs="The canonical SCALE spec of each job.")
Solvers = StorageMap(
    P, "Solvers", Blake2_128Concat, AccountId, SOLVER, docs="Registered solvers and their stakes."
)
Verifiers = StorageMap(
    P, "Verifiers", Blake2_128Concat, AccountId, VERIFIER, docs="Registered verifiers and bonds."
)
NextDisputeId = StorageValue(P, "NextDisputeId", DisputeId, default=0, docs="The id the next dispute gets.")
Disputes = StorageMap(
    P, "Disputes", Twox64Concat, DisputeId, DISPUTE, docs="Every dispute, resolved ones included."
)
RefereeVotes = StorageDoubleMap(
    P,
    "RefereeVotes",
    Twox64Concat,
    DisputeId,
    Blake2_128Concat,
    AccountId,
    H256,
    docs="The H[s+1] each referee voted for, so a referee votes once.",
)
Agenda = StorageMap(
    P,
    "Agenda",
    Twox64Concat,
    U32,
    Vec(AGENDA_ITEM),
    default=[],
    docs="Deadlines by block: the jobs and disputes on_initialize must act on at that block.",
)
TimeDeadlines = StorageMap(
    P,
    "TimeDeadlines",
    Twox64Concat,
    AGENDA_ITEM,
    U64,
    default=0,
    docs="The chain time (ms) before which a job's or dispute's deadline block does not act; "
    "the deadline passes once both its block and this time are reached.",
)
WindowEndsMs = StorageMap(
    P,
    "WindowEndsMs",
    Twox64Concat,
    JobId,
    U64,
    default=0,
    docs="The chain time (ms) until which a committed job's challenge window stays open, "
    "even past its window_end block.",
)
LostChallenges = StorageDoubleMap(
    P,
    "LostChallenges",
    Twox64Concat,
    JobId,
    Blake2_128Concat,
    Tuple(AccountId, U32),
    Bool,
    docs="The (challenger, segment) pairs of a job whose dispute the solver won: "
    "a challenger cannot make the solver defend the same segment twice.",
)
STORAGE = (
    NextJobId,
    Jobs,
    JobSpecs,
    Solvers,
    Verifiers,
    NextDisputeId,
    Disputes,
    RefereeVotes,
    Agenda,
    LostChallenges,
    TimeDeadlines,
    WindowEndsMs,
)

# --- events ---------------------------------------------------------------------------------------------


@pallet_events("pallet_compute_market::pallet::Event")
class MarketEvent(PalletEvent):
    SolverRegistered = event(("solver", AccountId), ("stake", U128), doc="A solver reserved its stake.")
    StakeAdded = event(("solver", AccountId), ("amount", U128), ("stake", U128), doc="A solver added stake.")
    SolverUnbonding = event(
        ("solver", AccountId),
        ("stake", U128),
        ("withdrawable_at", U32),
        doc="A solver left; its stake unlocks at the given block.",
    )
    SolverWithdrawn = event(
        ("solver", AccountId), ("amount", U128), doc="An unbonded solver's stake was released."
    )
    VerifierRegistered = event(("verifier", AccountId), ("bond", U128), doc="A verifier reserved its bond.")
    JobSubmitted = event(
        ("job_id", JobId),
        ("submitter", AccountId),
        ("spec_hash", H256),
        ("payment", U128),
        ("verifier_fee", U128),
        ("assign_at", U32),
        doc="Payment and verifier fee were escrowed.",
    )
    JobCancelled = event(
        ("job_id", JobId), ("refund", U128), doc="The submitter withdrew a job before assignment."
    )
    JobAssigned = event(
        ("job_id", JobId),
        ("solver", AccountId),
        ("lock", U128),
        ("commit_by", U32),
        doc="A solver was drawn and part of its stake locked.",
    )
    AssignmentDeferred = event(("job_id", JobId), ("retry_at", U32), doc="No solver had enough free stake.")
    ResultCommitted = event(
        ("job_id", JobId),
        ("solver", AccountId),
        ("result_root", H256),
        ("window_end", U32),
        doc="The solver committed to every step; the challenge window opened.",
    )
    Attested = event(
        ("job_id", JobId),
        ("verifier", AccountId),
        ("passed", Vec(U32)),
        ("failed", Vec(U32)),
        doc="A verifier replayed the sampled segments; each failed one opened a dispute.",
    )
    Challenged = event(
        ("dispute_id", DisputeId),
        ("job_id", JobId),
        ("challenger", AccountId),
        ("segment", U32),
        ("lo", U32),
        ("hi", U32),
        doc="A segment was disputed; the solver reveals first.",
    )
    ArtifactChallenged = event(
        ("dispute_id", DisputeId),
        ("job_id", JobId),
        ("challenger", AccountId),
        ("kind", DISPUTE_KIND),
        ("index", U32),
        ("blob", H256),
        ("unavailable", Bool),
        doc="A committed artifact (checkpoint, hash list, final model, evaluation) was challenged; "
        "the referees check it and vote.",
    )
    DatasetReported = event(
        ("dispute_id", DisputeId),
        ("job_id", JobId),
        ("solver", AccountId),
        ("dataset", H256),
        doc="The solver reported the dataset unusable; the referees check it and vote.",
    )
    JobRejected = event(
        ("job_id", JobId),
        ("submitter", AccountId),
        ("refund", U128),
        doc="The dataset was proven unusable: the submitter's bond was slashed, the escrow refunded "
        "and the solver released.",
    )
    StepRevealed = event(
        ("dispute_id", DisputeId),
        ("step", U32),
        ("step_hash", H256),
        doc="The solver opened H[step] against its root.",
    )
    Responded = event(
        ("dispute_id", DisputeId),
        ("agree", Bool),
        ("lo", U32),
        ("hi", U32),
        doc="The challenger answered; the interval is now [lo, hi].",
    )
    StepStatePublished = event(
        ("dispute_id", DisputeId),
        ("step", U32),
        ("state_blob", H256),
        doc="The solver published the full state at the single disputed step.",
    )
    RefereeVoted = event(
        ("dispute_id", DisputeId),
        ("referee", AccountId),
        ("claimed", H256),
        ("stake", U128),
        doc="A referee recomputed one step and voted for H[s+1].",
    )
    DisputeResolved = event(
        ("dispute_id", DisputeId),
        ("job_id", JobId),
        ("outcome", DISPUTE_OUTCOME),
        ("resolution", RESOLUTION),
        doc="A dispute ended.",
    )
    Slashed = event(
        ("who", AccountId),
        ("beneficiary", AccountId),
        ("rewarded", U128),
        ("burned", U128),
        doc="A loser's reserve was slashed: part to the beneficiary, part burned.",
    )
    JobFinalized = event(
        ("job_id", JobId),
        ("solver", AccountId),
        ("payment", U128),
        ("verifier_fee_paid", U128),
        doc="The solver was paid and its stake unlocked.",
    )
    JobSlashed = event(
        ("job_id", JobId),
        ("solver", AccountId),
        ("refund", U128),
        doc="The solver was at fault; the submitter was refunded in full.",
    )


# --- errors ---------------------------------------------------------------------------------------------


@pallet_errors("pallet_compute_market::pallet::Error")
class MarketError(PalletError):
    AlreadySolver = "The account is already a registered solver."
    NotSolver = "The account is not a registered solver."
    StakeTooLow = "The stake is below the minimum solver stake."
    SolverUnbonding = "The solver is unbonding and can take no new stake or jobs."
    NotUnbonding = "The solver has not unregistered."
    StillBonded = "The unbonding delay has not passed."
    HoldsJobs = "A solver with assigned jobs cannot unregister."
    AlreadyVerifier = "The account is already a registered verifier."
    NotVerifier = "The account is not a registered verifier."
    SpecTooLarge = "The spec exceeds the size cap."
    BadSpec = "The spec failed to parse or its schema check."
    TooManySteps = "The spec asks for more steps than the chain allows."
    ZeroPayment = "A job must pay something."
    UnknownJob = "No job has this id."
    NotSubmitter = "Only the job's submitter may do this."
    WrongJobStatus = "The job is not in a status that allows this call."
    NotAssignedSolver = "Only the job's assigned solver may do this."
    WrongCheckpointCount = "The number of checkpoints differs from the spec's."
    SamplingNotReady = "The block whose hash samples the segments has not been built yet."
    AlreadyAttested = "The job already has an attestation."
    WrongSegments = "The attested segments are not exactly the sampled ones."
    PartyCannotAct = "A party to the job cannot act in this role."
    WindowClosed = "The challenge window is over."
    WindowOpen = "The challenge window has not closed yet."
    DisputesOpen = "The job has open disputes."
    UnknownSegment = "No such segment in this job."
    DuplicateChallenge = "This account already disputes this segment, or lost a dispute over it."
    TooManyDisputes = "The job has as many open disputes as allowed."
    UnknownDispute = "No dispute has this id."
    WrongPhase = "The dispute is not waiting for this move."
    NotParty = "Only the party whose move it is may make it."
    BadProof = "The Merkle proof does not open the committed root at this step."
    StateHashMismatch = "The published state's hash is not the agreed H[s]."
    NotReferee = "Only active validators may referee."
    AlreadyVoted = "This referee already voted in this dispute."
    UnknownArtifact = "No such artifact kind or index in this job's commitment."
    BadEvaluation = "The committed evaluation counts more correct test examples than it evaluated."
