from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBMITTED: _ClassVar[JobStatus]
    ASSIGNED: _ClassVar[JobStatus]
    COMMITTED: _ClassVar[JobStatus]
    ATTESTED: _ClassVar[JobStatus]
    CHALLENGED: _ClassVar[JobStatus]
    FINALIZED: _ClassVar[JobStatus]
    SLASHED: _ClassVar[JobStatus]
    CANCELLED: _ClassVar[JobStatus]
    REJECTED: _ClassVar[JobStatus]

class DisputePhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVEAL: _ClassVar[DisputePhase]
    RESPONSE: _ClassVar[DisputePhase]
    STEP_STATE: _ClassVar[DisputePhase]
    VOTING: _ClassVar[DisputePhase]
    RESOLVED: _ClassVar[DisputePhase]

class DisputeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP: _ClassVar[DisputeKind]
    CHECKPOINT: _ClassVar[DisputeKind]
    HASH_LIST: _ClassVar[DisputeKind]
    FINAL_MODEL: _ClassVar[DisputeKind]
    DATASET: _ClassVar[DisputeKind]
    EVALUATION: _ClassVar[DisputeKind]

class DisputeOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOLVER_WON: _ClassVar[DisputeOutcome]
    CHALLENGER_WON: _ClassVar[DisputeOutcome]
    VOID: _ClassVar[DisputeOutcome]

class Resolution(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOTE: _ClassVar[Resolution]
    SOLVER_TIMEOUT: _ClassVar[Resolution]
    CHALLENGER_TIMEOUT: _ClassVar[Resolution]
    NO_QUORUM: _ClassVar[Resolution]
    SUPERSEDED: _ClassVar[Resolution]
    SERVED: _ClassVar[Resolution]
SUBMITTED: JobStatus
ASSIGNED: JobStatus
COMMITTED: JobStatus
ATTESTED: JobStatus
CHALLENGED: JobStatus
FINALIZED: JobStatus
SLASHED: JobStatus
CANCELLED: JobStatus
REJECTED: JobStatus
REVEAL: DisputePhase
RESPONSE: DisputePhase
STEP_STATE: DisputePhase
VOTING: DisputePhase
RESOLVED: DisputePhase
STEP: DisputeKind
CHECKPOINT: DisputeKind
HASH_LIST: DisputeKind
FINAL_MODEL: DisputeKind
DATASET: DisputeKind
EVALUATION: DisputeKind
SOLVER_WON: DisputeOutcome
CHALLENGER_WON: DisputeOutcome
VOID: DisputeOutcome
VOTE: Resolution
SOLVER_TIMEOUT: Resolution
CHALLENGER_TIMEOUT: Resolution
NO_QUORUM: Resolution
SUPERSEDED: Resolution
SERVED: Resolution

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class DisputeRequest(_message.Message):
    __slots__ = ("dispute_id",)
    DISPUTE_ID_FIELD_NUMBER: _ClassVar[int]
    dispute_id: int
    def __init__(self, dispute_id: _Optional[int] = ...) -> None: ...

class AccountRequest(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: bytes
    def __init__(self, account: _Optional[bytes] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "submitter", "spec_hash", "spec", "steps", "checkpoint_interval", "payment", "verifier_fee", "sample_q", "status", "submitted_at", "deadline", "solver", "lock", "result_root", "final_hash", "checkpoints", "committed_at", "window_end", "verifier", "attested_ok", "disputes", "open_disputes", "sampled_segments", "has_sampled_segments", "hash_list", "submitter_bond", "window_end_ms", "has_evaluation", "eval_loss_bits", "eval_correct", "eval_count", "eval_loss")
    ID_FIELD_NUMBER: _ClassVar[int]
    SUBMITTER_FIELD_NUMBER: _ClassVar[int]
    SPEC_HASH_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_FEE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_Q_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    LOCK_FIELD_NUMBER: _ClassVar[int]
    RESULT_ROOT_FIELD_NUMBER: _ClassVar[int]
    FINAL_HASH_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    VERIFIER_FIELD_NUMBER: _ClassVar[int]
    ATTESTED_OK_FIELD_NUMBER: _ClassVar[int]
    DISPUTES_FIELD_NUMBER: _ClassVar[int]
    OPEN_DISPUTES_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    HAS_SAMPLED_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    HASH_LIST_FIELD_NUMBER: _ClassVar[int]
    SUBMITTER_BOND_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_MS_FIELD_NUMBER: _ClassVar[int]
    HAS_EVALUATION_FIELD_NUMBER: _ClassVar[int]
    EVAL_LOSS_BITS_FIELD_NUMBER: _ClassVar[int]
    EVAL_CORRECT_FIELD_NUMBER: _ClassVar[int]
    EVAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    EVAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    id: int
    submitter: bytes
    spec_hash: bytes
    spec: bytes
    steps: int
    checkpoint_interval: int
    payment: str
    verifier_fee: str
    sample_q: int
    status: str
    submitted_at: int
    deadline: int
    solver: bytes
    lock: str
    result_root: bytes
    final_hash: bytes
    checkpoints: _containers.RepeatedScalarFieldContainer[bytes]
    committed_at: int
    window_end: int
    verifier: bytes
    attested_ok: _containers.RepeatedScalarFieldContainer[int]
    disputes: _containers.RepeatedScalarFieldContainer[int]
    open_disputes: _containers.RepeatedScalarFieldContainer[int]
    sampled_segments: _containers.RepeatedScalarFieldContainer[int]
    has_sampled_segments: bool
    hash_list: bytes
    submitter_bond: str
    window_end_ms: int
    has_evaluation: bool
    eval_loss_bits: int
    eval_correct: int
    eval_count: int
    eval_loss: float
    def __init__(self, id: _Optional[int] = ..., submitter: _Optional[bytes] = ..., spec_hash: _Optional[bytes] = ..., spec: _Optional[bytes] = ..., steps: _Optional[int] = ..., checkpoint_interval: _Optional[int] = ..., payment: _Optional[str] = ..., verifier_fee: _Optional[str] = ..., sample_q: _Optional[int] = ..., status: _Optional[str] = ..., submitted_at: _Optional[int] = ..., deadline: _Optional[int] = ..., solver: _Optional[bytes] = ..., lock: _Optional[str] = ..., result_root: _Optional[bytes] = ..., final_hash: _Optional[bytes] = ..., checkpoints: _Optional[_Iterable[bytes]] = ..., committed_at: _Optional[int] = ..., window_end: _Optional[int] = ..., verifier: _Optional[bytes] = ..., attested_ok: _Optional[_Iterable[int]] = ..., disputes: _Optional[_Iterable[int]] = ..., open_disputes: _Optional[_Iterable[int]] = ..., sampled_segments: _Optional[_Iterable[int]] = ..., has_sampled_segments: _Optional[bool] = ..., hash_list: _Optional[bytes] = ..., submitter_bond: _Optional[str] = ..., window_end_ms: _Optional[int] = ..., has_evaluation: _Optional[bool] = ..., eval_loss_bits: _Optional[int] = ..., eval_correct: _Optional[int] = ..., eval_count: _Optional[int] = ..., eval_loss: _Optional[float] = ...) -> None: ...

class Jobs(_message.Message):
    __slots__ = ("jobs", "block_number", "now_ms")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NOW_MS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    block_number: int
    now_ms: int
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., block_number: _Optional[int] = ..., now_ms: _Optional[int] = ...) -> None: ...

class Solver(_message.Message):
    __slots__ = ("account", "stake", "locked", "free_stake", "jobs", "unbonding_at", "unbonding")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    STAKE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    FREE_STAKE_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    UNBONDING_AT_FIELD_NUMBER: _ClassVar[int]
    UNBONDING_FIELD_NUMBER: _ClassVar[int]
    account: bytes
    stake: str
    locked: str
    free_stake: str
    jobs: int
    unbonding_at: int
    unbonding: bool
    def __init__(self, account: _Optional[bytes] = ..., stake: _Optional[str] = ..., locked: _Optional[str] = ..., free_stake: _Optional[str] = ..., jobs: _Optional[int] = ..., unbonding_at: _Optional[int] = ..., unbonding: _Optional[bool] = ...) -> None: ...

class Solvers(_message.Message):
    __slots__ = ("solvers",)
    SOLVERS_FIELD_NUMBER: _ClassVar[int]
    solvers: _containers.RepeatedCompositeFieldContainer[Solver]
    def __init__(self, solvers: _Optional[_Iterable[_Union[Solver, _Mapping]]] = ...) -> None: ...

class Verifier(_message.Message):
    __slots__ = ("account", "bond")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    BOND_FIELD_NUMBER: _ClassVar[int]
    account: bytes
    bond: str
    def __init__(self, account: _Optional[bytes] = ..., bond: _Optional[str] = ...) -> None: ...

class Verifiers(_message.Message):
    __slots__ = ("verifiers",)
    VERIFIERS_FIELD_NUMBER: _ClassVar[int]
    verifiers: _containers.RepeatedCompositeFieldContainer[Verifier]
    def __init__(self, verifiers: _Optional[_Iterable[_Union[Verifier, _Mapping]]] = ...) -> None: ...

class Dispute(_message.Message):
    __slots__ = ("id", "job_id", "challenger", "bond", "segment", "lo", "hi", "phase", "deadline", "opened_at", "lo_hash", "hi_hash", "revealed", "state_blob", "referee_stake", "outcome", "resolution", "next_step", "kind", "deadline_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_FIELD_NUMBER: _ClassVar[int]
    BOND_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    LO_FIELD_NUMBER: _ClassVar[int]
    HI_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    LO_HASH_FIELD_NUMBER: _ClassVar[int]
    HI_HASH_FIELD_NUMBER: _ClassVar[int]
    REVEALED_FIELD_NUMBER: _ClassVar[int]
    STATE_BLOB_FIELD_NUMBER: _ClassVar[int]
    REFEREE_STAKE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    NEXT_STEP_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    id: int
    job_id: int
    challenger: bytes
    bond: str
    segment: int
    lo: int
    hi: int
    phase: str
    deadline: int
    opened_at: int
    lo_hash: bytes
    hi_hash: bytes
    revealed: bytes
    state_blob: bytes
    referee_stake: str
    outcome: str
    resolution: str
    next_step: int
    kind: str
    deadline_ms: int
    def __init__(self, id: _Optional[int] = ..., job_id: _Optional[int] = ..., challenger: _Optional[bytes] = ..., bond: _Optional[str] = ..., segment: _Optional[int] = ..., lo: _Optional[int] = ..., hi: _Optional[int] = ..., phase: _Optional[str] = ..., deadline: _Optional[int] = ..., opened_at: _Optional[int] = ..., lo_hash: _Optional[bytes] = ..., hi_hash: _Optional[bytes] = ..., revealed: _Optional[bytes] = ..., state_blob: _Optional[bytes] = ..., referee_stake: _Optional[str] = ..., outcome: _Optional[str] = ..., resolution: _Optional[str] = ..., next_step: _Optional[int] = ..., kind: _Optional[str] = ..., deadline_ms: _Optional[int] = ...) -> None: ...

class Disputes(_message.Message):
    __slots__ = ("disputes", "block_number", "now_ms")
    DISPUTES_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NOW_MS_FIELD_NUMBER: _ClassVar[int]
    disputes: _containers.RepeatedCompositeFieldContainer[Dispute]
    block_number: int
    now_ms: int
    def __init__(self, disputes: _Optional[_Iterable[_Union[Dispute, _Mapping]]] = ..., block_number: _Optional[int] = ..., now_ms: _Optional[int] = ...) -> None: ...

class MarketEvent(_message.Message):
    __slots__ = ("block_number", "block_hash", "name", "fields_json")
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_JSON_FIELD_NUMBER: _ClassVar[int]
    block_number: int
    block_hash: bytes
    name: str
    fields_json: str
    def __init__(self, block_number: _Optional[int] = ..., block_hash: _Optional[bytes] = ..., name: _Optional[str] = ..., fields_json: _Optional[str] = ...) -> None: ...
