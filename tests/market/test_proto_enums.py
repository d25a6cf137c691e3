"""The gRPC API's enums (proto/market.proto) are the pallet's, by name and tag, and workers parse the state
names the API sends into them, refusing a name they do not know."""

from __future__ import annotations

import pytest

from compute_market.pallet import types as pallet
from compute_market.worker import states
from proto import market_pb2

PAIRS = [
    (market_pb2.JobStatus, pallet.JobStatus),
    (market_pb2.DisputePhase, pallet.DisputePhase),
    (market_pb2.DisputeKind, pallet.DisputeKind),
    (market_pb2.DisputeOutcome, pallet.DisputeOutcome),
    (market_pb2.Resolution, pallet.Resolution),
]


@pytest.mark.parametrize("proto_enum,pallet_enum", PAIRS, ids=[p.__name__ for _, p in PAIRS])
def test_proto_enum_is_the_pallet_enum(proto_enum, pallet_enum):
    assert dict(proto_enum.items()) == {m.name: m.value for m in pallet_enum}


def test_worker_states_parse_the_names_the_api_sends():
    job = market_pb2.Job(id=3, status=pallet.JobStatus.ASSIGNED.name)
    dispute = market_pb2.Dispute(
        id=4, phase=pallet.DisputePhase.VOTING.name, kind=pallet.DisputeKind.HASH_LIST.name
    )
    assert states.job_status(job) is states.JobStatus.ASSIGNED
    assert states.dispute_phase(dispute) is states.DisputePhase.VOTING
    assert states.dispute_kind(dispute) is states.DisputeKind.HASH_LIST
    assert states.dispute_outcome(dispute) is None  # open: the API sends no outcome
    resolved = market_pb2.Dispute(id=5, outcome=pallet.DisputeOutcome.CHALLENGER_WON.name)
    assert states.dispute_outcome(resolved) is states.DisputeOutcome.CHALLENGER_WON


@pytest.mark.parametrize(
    "message,parse",
    [
        (market_pb2.Job(id=3, status="ASSIGNED_LATER"), states.job_status),
        (market_pb2.Job(id=3, status=""), states.job_status),
        (market_pb2.Dispute(id=4, phase="voting"), states.dispute_phase),
        (market_pb2.Dispute(id=4, kind="WEIGHTS"), states.dispute_kind),
        (market_pb2.Dispute(id=4, outcome="SOLVER_LOST"), states.dispute_outcome),
    ],
)
def test_invalid_state_name_is_refused(message, parse):
    with pytest.raises(states.UnknownState, match="the node reported"):
        parse(message)
