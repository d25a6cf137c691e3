"""Flood report: the fault suite's transaction flood at full size against one dev node, as one JSON object.

One `gradchain node --dev` process on loopback gets `--count` submissions (default 100,000), all signed in
advance, over eight gRPC channels at once: 45% valid transfers from pre-funded senders, 5% with a broken
signature, 5% duplicates of transactions just accepted, 45% with nonces far ahead (enough to fill the pool).
A sampler reads the pool gauges (Prometheus) and the node's RSS (/proc) four times a second. Afterwards the
chain is scanned (see tests/faults/test_floods.py). `pool_samples_over_bounds`, `accepted_valid_lost`,
`included_twice`, `invalid_included` and `senders_with_wrong_nonce` must be 0, and every valid transfer
included; the exit status is 1 otherwise.

Run: `python benchmarks/flood_report.py --count 100000` (a few minutes on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.faults.test_floods import run_flood  # noqa: E402

MUST_BE_ZERO = (
    "pool_samples_over_bounds",
    "accepted_valid_lost",
    "included_twice",
    "invalid_included",
    "senders_with_wrong_nonce",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--channels", type=int, default=8, help="gRPC channels, one submitting thread each")
    parser.add_argument("--verbose", action="store_true", help="print progress to stderr")
    args = parser.parse_args()
    progress = (lambda msg: print(msg, file=sys.stderr)) if args.verbose else None
    with tempfile.TemporaryDirectory(prefix="gradchain-flood-") as tmp:
        result = run_flood(
            Path(tmp),
            args.count,
            lanes=args.channels,
            flood_timeout=1200,
            settle_timeout=300,
            progress=progress,
        )
    summary = result.summary()
    print(json.dumps(summary))
    failed = any(summary[k] for k in MUST_BE_ZERO) or summary["valid_included"] != summary["valid_transfers"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
