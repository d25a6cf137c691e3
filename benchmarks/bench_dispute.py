"""On-chain cost of one compute-market dispute by checkpoint interval k.

Prints one JSON object. For k = 16, 64, 256, 1024, 4096 it plays one full dispute over the first segment
(k steps) of one job of T = 8,192 steps for every k, as real signed extrinsics applied by the executive:
the challenge, every reveal (each carrying a Merkle proof of log2(T) = 13 hashes, the same for every k)
and response, the state publication, and the referee votes that reach the quorum (3 of 4 equal-stake
validators). The liar solver's first wrong step is the segment's last, so the challenger agrees at every
midpoint: the most reveal rounds, plus the one endpoint reveal of H[k]. Holding T fixed separates the
dispute's dependence on k (the number of rounds) from the proof length's dependence on T (log2 T per
reveal): a job of T steps pays log2(k) rounds of log2(T)-hash proofs.

Per k: `extrinsics`, `bytes` (encoded signed extrinsics), `ref_time` and `proof_size` (the calls'
declared weights), `bisection_rounds` (= ceil(log2 k)). `per_log2_k` gives the increments of each figure
per unit of log2(k) between consecutive k: constant increments mean growth linear in log2(k), i.e. the
cost of a dispute is logarithmic in the checkpoint interval.

Run: `python benchmarks/bench_dispute.py` (a few seconds).
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tests.market.harness import dispute_cost  # noqa: E402

INTERVALS = (16, 64, 256, 1024, 4096)
STEPS = 2 * max(INTERVALS)


def main() -> None:
    rows = [dispute_cost(k, STEPS) for k in INTERVALS]
    increments = {
        field: [
            round((b[field] - a[field]) / (b["log2_k"] - a["log2_k"]), 1)
            for a, b in zip(rows, rows[1:], strict=False)
        ]
        for field in ("extrinsics", "bytes", "ref_time", "proof_size")
    }
    print(
        json.dumps(
            {"benchmark": "dispute_cost_by_checkpoint_interval", "disputes": rows, "per_log2_k": increments},
            separators=(",", ":"),
        )
    )


if __name__ == "__main__":
    main()
