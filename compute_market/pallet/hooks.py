"""`on_initialize`: the chain acts on every deadline that falls in this block and whose chain time has come
(see `lifecycle` and `windows`); one whose time has not come yet is moved to a later block."""

from __future__ import annotations

from compute_market.pallet import dispute, lifecycle, windows
from compute_market.pallet.dispute import READ, WRITE
from compute_market.pallet.types import Agenda, AgendaKind, DisputePhase, Disputes, Jobs
from runtime.frame.support import Weight


def on_initialize(number: int) -> Weight:
    entries = Agenda.get(number)
    if not entries:
        return Weight(READ)
    Agenda.remove(number)
    for kind, item_id in entries:
        if kind is AgendaKind.JOB:
            job = Jobs.get(item_id)
            if job is not None and not job.status.ended and job.deadline == number:
                later = windows.retry_block(kind, item_id, number)
                if later is not None:  # the block came before the time: look again when it should be due
                    lifecycle.set_job_deadline(job, later)
                    Jobs.insert(job.id, job)
                else:
                    lifecycle.on_job_deadline(job, number)
        else:
            d = Disputes.get(item_id)
            if d is not None and d.phase is not DisputePhase.RESOLVED and d.deadline == number:
                later = windows.retry_block(kind, item_id, number)
                if later is not None:
                    dispute.set_deadline(d, later)
                else:
                    dispute.on_deadline(d, number)
    return Weight(READ + WRITE + len(entries) * (10 * READ + 10 * WRITE))
