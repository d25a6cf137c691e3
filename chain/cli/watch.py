"""Following a job to its end (`gradchain job status --watch`, and the demo): each change printed once.

A poll reads the job and its disputes; a line is printed when the job's status changes and when a dispute
moves (phase, interval or outcome). The node may go away for a while (a restart): the watch says so once
and keeps polling; only the first read must succeed (a job id the node does not know ends the watch).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum

from chain.client import ClientError
from compute_market.worker.client import MarketNode
from compute_market.worker.states import JOB_ENDS, JobStatus, dispute_outcome, job_status

END_MEANING = {
    JobStatus.FINALIZED: "the solver was paid; the model can be fetched",
    JobStatus.SLASHED: "the solver was found at fault (a proven wrong step, artifact or missed deadline) "
    "and slashed; the submitter was refunded",
    JobStatus.CANCELLED: "it was withdrawn before a solver was assigned; the escrow was refunded",
    JobStatus.REJECTED: "its dataset was proven unusable; the submitter's bond was slashed, the escrow refunded",
}


class WatchTimeout(Exception):
    """The job did not end within the watch's timeout."""


def follow_job(
    market: MarketNode, job_id: int, say: Callable[[str], None], interval: float, timeout: float | None = None
) -> IntEnum:
    """Print the job's and its disputes' moves until the job ends; the status it ended in."""
    seen_status, seen_dispute, outage = None, {}, False
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            job, disputes, head = market.job(job_id), market.disputes(job_id), market.head()
        except ClientError as e:
            if seen_status is None:
                raise
            if not outage:
                say(f"  the node is unreachable ({e}); still watching job {job_id}")
            outage = True
        else:
            outage = False
            status = job_status(job)
            if status is not seen_status:
                seen_status = status
                say(f"  block #{head:>4}  job {job_id} -> {status.name}")
            for d in disputes:
                key = (d.phase, d.lo, d.hi, d.outcome)
                if seen_dispute.get(d.id) != key:
                    seen_dispute[d.id] = key
                    text = f"dispute {d.id} on segment {d.segment}: {d.phase}, interval [{d.lo}, {d.hi}]"
                    outcome = dispute_outcome(d)
                    if outcome is not None:
                        text += f" -> {outcome.name} ({d.resolution})"
                    say(f"  block #{head:>4}    {text}")
            if status in JOB_ENDS:
                return status
        if deadline is not None and time.monotonic() >= deadline:
            raise WatchTimeout(f"job {job_id} did not end within {timeout:g} s (it is {seen_status.name})")
        time.sleep(interval)
