"""Dishonest auditors for the demo and the tests: the production `Verifier` and `Whistleblower`, each with
one hook overridden. Everything else (which jobs they take, attesting, challenging, playing the bisection)
is the production code, so what the chain does to them is what it does to any verifier or whistleblower.
"""

from __future__ import annotations

import logging

from compute_market.worker.roles import JobAudit, Verifier, Whistleblower

log = logging.getLogger("gradchain.adversary")


class LazyVerifier(Verifier):
    """A verifier that attests every sampled segment as reproduced without replaying any (nor checking an
    artifact): the chain slashes its bond when a segment it attested is later proven wrong."""

    name = "lazy verifier"

    def replay_sampled(self, job) -> list[tuple[int, bool]] | None:
        log.info(
            "lazy verifier: job %d: attesting segments %s unreplayed", job.id, list(job.sampled_segments)
        )
        return [(segment, True) for segment in job.sampled_segments]


class FalseWhistleblower(Whistleblower):
    """A whistleblower that challenges the first segment it audits even when its replay reproduces the
    listed hashes (it still replays, and plays the bisection as the production role does): the referees
    side with the solver and the challenger's bond is slashed."""

    name = "false whistleblower"

    def segment_to_challenge(self, job, audit: JobAudit, segment: int) -> int | None:
        disputed = super().segment_to_challenge(job, audit, segment)
        if disputed is not None:
            return disputed
        log.info("false whistleblower: job %d segment %d reproduces; challenging it anyway", job.id, segment)
        return segment
