"""The market states a worker acts on, typed: the enums of proto/market.proto, parsed once per read.

The gRPC API carries a job's status and a dispute's phase, kind, outcome and resolution as the pallet's
names (strings, so its JSON reads as the chain does). A worker, and the CLI that reports on the market, never
compares those strings: it parses them here into `IntEnum`s built from the proto's enum declarations (no
second list of names), and a name this worker does not know is an `UnknownState`, not a comparison that is
silently false.
"""

from __future__ import annotations

from enum import IntEnum

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from chain.client import ClientError
from compute_market.commitment import Evaluation
from proto import market_pb2


class UnknownState(ClientError):
    """The node reported a state name that this worker's proto/market.proto does not declare."""


def _enum(wrapper: EnumTypeWrapper) -> type[IntEnum]:
    return IntEnum(wrapper.DESCRIPTOR.name, dict(wrapper.items()), module=__name__)


JobStatus = _enum(market_pb2.JobStatus)
DisputePhase = _enum(market_pb2.DisputePhase)
DisputeKind = _enum(market_pb2.DisputeKind)
DisputeOutcome = _enum(market_pb2.DisputeOutcome)
Resolution = _enum(market_pb2.Resolution)


def _parse(enum: type[IntEnum], name: str, what: str) -> IntEnum:
    try:
        return enum[name]
    except KeyError:
        raise UnknownState(
            f"the node reported {what} {name!r}, which is not a {enum.__name__} "
            f"({', '.join(enum.__members__)})"
        ) from None


def job_status(job: market_pb2.Job) -> IntEnum:
    return _parse(JobStatus, job.status, f"job {job.id} status")


def job_evaluation(job: market_pb2.Job) -> Evaluation | None:
    """The evaluation the solver committed with its result; None before the commitment."""
    if not job.has_evaluation:
        return None
    return Evaluation(job.eval_loss_bits, job.eval_correct, job.eval_count)


def dispute_phase(dispute: market_pb2.Dispute) -> IntEnum:
    return _parse(DisputePhase, dispute.phase, f"dispute {dispute.id} phase")


def dispute_kind(dispute: market_pb2.Dispute) -> IntEnum:
    return _parse(DisputeKind, dispute.kind, f"dispute {dispute.id} kind")


def dispute_outcome(dispute: market_pb2.Dispute) -> IntEnum | None:
    """How the dispute ended; None while it is open (the API sends no outcome then)."""
    if not dispute.outcome:
        return None
    return _parse(DisputeOutcome, dispute.outcome, f"dispute {dispute.id} outcome")


JOB_ENDS = frozenset({JobStatus.FINALIZED, JobStatus.SLASHED, JobStatus.CANCELLED, JobStatus.REJECTED})
"""The statuses a job never leaves."""
