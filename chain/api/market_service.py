"""gRPC MarketService: the compute market's jobs, solvers, verifiers and disputes, read from the head state."""

from __future__ import annotations

import grpc

from chain.api.convert import to_json_text
from chain.api.grpc_api import Subscription
from compute_market.pallet import query
from proto import market_pb2, market_pb2_grpc

STREAM_QUEUE = 256


def _b(value: bytes | None) -> bytes:
    return value or b""


def _name(value) -> str:
    return "" if value is None else value.name


def job_message(
    job, spec: bytes | None, segments: list[int] | None, window_end_ms: int = 0
) -> market_pb2.Job:
    return market_pb2.Job(
        id=job.id,
        submitter=job.submitter,
        spec_hash=job.spec_hash,
        spec=_b(spec),
        steps=job.steps,
        checkpoint_interval=job.checkpoint_interval,
        payment=str(job.payment),
        verifier_fee=str(job.verifier_fee),
        sample_q=job.sample_q,
        status=job.status.name,
        submitted_at=job.submitted_at,
        deadline=job.deadline,
        solver=_b(job.solver),
        lock=str(job.lock),
        result_root=_b(job.result_root),
        final_hash=_b(job.final_hash),
        checkpoints=list(job.checkpoints),
        committed_at=job.committed_at,
        window_end=job.window_end,
        verifier=_b(job.verifier),
        attested_ok=list(job.attested_ok),
        disputes=list(job.disputes),
        open_disputes=list(job.open_disputes),
        sampled_segments=list(segments or []),
        has_sampled_segments=segments is not None,
        hash_list=_b(job.hash_list),
        submitter_bond=str(job.submitter_bond),
        window_end_ms=window_end_ms,
        **_evaluation_fields(job.evaluation),
    )


def _evaluation_fields(evaluation) -> dict:
    if evaluation is None:
        return {}
    figures = evaluation.figures()
    return {
        "has_evaluation": True,
        "eval_loss_bits": figures.loss_bits,
        "eval_correct": figures.correct,
        "eval_count": figures.count,
        "eval_loss": figures.loss,
    }


def dispute_message(d, deadline_ms: int = 0) -> market_pb2.Dispute:
    next_step = d.next_step
    return market_pb2.Dispute(
        id=d.id,
        job_id=d.job_id,
        challenger=d.challenger,
        bond=str(d.bond),
        segment=d.segment,
        lo=d.lo,
        hi=d.hi,
        phase=d.phase.name,
        deadline=d.deadline,
        opened_at=d.opened_at,
        lo_hash=_b(d.lo_hash),
        hi_hash=_b(d.hi_hash),
        revealed=_b(d.revealed),
        state_blob=_b(d.state_blob),
        referee_stake=str(d.referee_stake),
        outcome=_name(d.outcome),
        resolution=_name(d.resolution),
        next_step=0 if next_step is None else next_step,
        kind=d.kind.name,
        deadline_ms=deadline_ms,
    )


class MarketService(market_pb2_grpc.MarketServiceServicer):
    def __init__(self, node):
        self.node = node

    def _read(self, fn, *args):
        return query.read(self.node.chain.state_at(None), fn, *args)

    def _job(self, job_id: int) -> market_pb2.Job | None:
        job = self._read(query.job, job_id)
        if job is None:
            return None
        return job_message(
            job,
            self._read(query.job_spec, job_id),
            self._read(query.job_segments, job_id),
            self._read(query.window_end_ms, job_id),
        )

    def _dispute(self, d) -> market_pb2.Dispute:
        return dispute_message(d, self._read(query.dispute_deadline_ms, d.id))

    def _now_ms(self) -> int:
        return self._read(query.now_ms)

    async def ListJobs(self, request, context):  # noqa: N802
        jobs = [self._job(j.id) for j in self._read(query.jobs)]
        return market_pb2.Jobs(jobs=jobs, block_number=self.node.chain.number, now_ms=self._now_ms())

    async def GetJob(self, request, context):  # noqa: N802
        job = self._job(request.job_id)
        if job is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no job {request.job_id}")
        return job

    async def ListSolvers(self, request, context):  # noqa: N802
        return market_pb2.Solvers(solvers=[_solver(s) for s in self._read(query.solvers)])

    async def GetSolver(self, request, context):  # noqa: N802
        if len(request.account) != 32:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "an account is 32 bytes")
        for s in self._read(query.solvers):
            if s.account == request.account:
                return _solver(s)
        await context.abort(
            grpc.StatusCode.NOT_FOUND, f"0x{bytes(request.account).hex()} is not a registered solver"
        )

    async def ListVerifiers(self, request, context):  # noqa: N802
        return market_pb2.Verifiers(
            verifiers=[market_pb2.Verifier(account=a, bond=str(b)) for a, b in self._read(query.verifiers)]
        )

    async def ListDisputes(self, request, context):  # noqa: N802
        return market_pb2.Disputes(
            disputes=[self._dispute(d) for d in self._read(query.disputes, request.job_id)],
            block_number=self.node.chain.number,
            now_ms=self._now_ms(),
        )

    async def ListOpenDisputes(self, request, context):  # noqa: N802
        out = []
        for job in self._read(query.jobs):
            for dispute_id in job.open_disputes:
                d = self._read(query.dispute, dispute_id)
                if d is not None:
                    out.append(self._dispute(d))
        return market_pb2.Disputes(disputes=out, block_number=self.node.chain.number, now_ms=self._now_ms())

    async def GetDispute(self, request, context):  # noqa: N802
        d = self._read(query.dispute, request.dispute_id)
        if d is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no dispute {request.dispute_id}")
        return self._dispute(d)

    async def SubscribeMarketEvents(self, request, context):  # noqa: N802
        subscription = Subscription(STREAM_QUEUE)

        def push(header, events):
            for _phase, ev in events:
                if ev.pallet == "ComputeMarket":
                    subscription.push(
                        market_pb2.MarketEvent(
                            block_number=header.number,
                            block_hash=header.hash,
                            name=ev.name,
                            fields_json=to_json_text(ev.args),
                        )
                    )

        unsubscribe = self.node.subscribe("events", push)
        try:
            while True:
                (message,) = await subscription.next(context)
                yield message
        finally:
            unsubscribe()


def _solver(s) -> market_pb2.Solver:
    return market_pb2.Solver(
        account=s.account,
        stake=str(s.stake),
        locked=str(s.locked),
        free_stake=str(s.free_stake),
        jobs=s.jobs,
        unbonding_at=s.unbonding_at or 0,
        unbonding=s.unbonding_at is not None,
    )


def market_grpc_service(node):
    """(service descriptor, servicer) for `start_grpc_server`'s extra services."""
    return market_pb2.DESCRIPTOR.services_by_name["MarketService"], MarketService(node)
