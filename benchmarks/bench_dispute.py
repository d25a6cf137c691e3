"""On-chain cost of one compute-market dispute by checkpoint interval k.

Prints one JSON object. For k = 16, 64, 256, 1024, 4096 it plays one full dispute over a whole segment of
k steps (a job with T = k), as real signed extrinsics applied by the executive: the challenge, every
reveal (each carrying a Merkle proof of ~log2(k) hashes) and response, the state publication, and the
referee votes that reach the quorum (3 of 4 equal-stake validators). The liar solver's first wrong step
is the segment's last, so the challenger agrees at every midpoint: the most reveal rounds, plus the one
endpoint reveal of H[k].

Per k: `extrinsics`, `bytes` (encoded signed extrinsics), `ref_time` and `proof_size` (the calls'
declared weights), `bisection_rounds` (= ceil(log2 k)). `per_log2_k` gives the increments of each figure
per unit of log2(k) between consecutive k: constant increments mean growth linear in log2(k), i.e. the
cost of a dispute is logarithmic in the checkpoint interval.

Run: `python benchmarks/bench_dispute.py` (a few seconds).
"""

from __future__ import annotations

import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from compute_market.pallet import dispute  # noqa: E402
from compute_market.pallet.types import DisputePhase  # noqa: E402
from tests.market.harness import BOB, CHARLIE, REFEREES, Market, lying_hashes, successor, true_hashes  # noqa: E402

INTERVALS = (16, 64, 256, 1024, 4096)


def one_dispute(k: int) -> dict:
    m = Market(maxSteps=max(k, 100_000), moveDeadline=50)
    truth = true_hashes(k)
    job, commitment = m.committed_job(hashes=lying_hashes(k, k), steps=k, interval=k)
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
        "log2_k": math.log2(k),
        "bisection_rounds": math.ceil(math.log2(k)),
        "extrinsics": len(spent),
        "bytes": sum(len(raw) for raw, _ in spent),
        "ref_time": sum(w.ref_time for _, w in spent),
        "proof_size": sum(w.proof_size for _, w in spent),
    }


def main() -> None:
    rows = [one_dispute(k) for k in INTERVALS]
    increments = {
        field: [round((b[field] - a[field]) / (b["log2_k"] - a["log2_k"]), 1) for a, b in zip(rows, rows[1:], strict=False)]
        for field in ("extrinsics", "bytes", "ref_time", "proof_size")
    }
    print(json.dumps({"benchmark": "dispute_cost_by_checkpoint_interval", "disputes": rows,
                      "per_log2_k": increments}, separators=(",", ":")))


if __name__ == "__main__":
    main()
