"""Reliability report: the crash loop of the fault suite at full length, summarised as one JSON object.

A four-validator `local` chain of real processes on loopback runs under steady load (transfers from three
dev accounts, market calls from two more: register_solver, submit_job) while, for `--rounds` rounds, a
random validator is killed with SIGKILL at a random moment and restarted. Afterwards the chain is audited
(see tests/faults/crash_loop.py): every node agrees on every finalized block, every extrinsic reported
FINALIZED is in the chain exactly once, every certificate verifies and no offence was reported, and every
LevelDB opens after a final SIGKILL of all nodes. `transfers_lost`, `double_signatures`,
`duplicate_inclusions`, `bad_certificates` and `database_errors` must all be 0; the exit status is 1 otherwise.

Run: `python benchmarks/reliability_report.py --rounds 50` (about five minutes on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.faults.crash_loop import run_crash_loop  # noqa: E402

MUST_BE_ZERO = (
    "transfers_lost",
    "double_signatures",
    "duplicate_inclusions",
    "bad_certificates",
    "database_errors",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="print each round to stderr")
    args = parser.parse_args()
    progress = (lambda msg: print(msg, file=sys.stderr)) if args.verbose else None
    with tempfile.TemporaryDirectory(prefix="gradchain-reliability-") as tmp:
        result = run_crash_loop(Path(tmp), args.rounds, seed=args.seed, progress=progress)
    summary = result.summary()
    print(json.dumps(summary))
    return 1 if any(summary[k] for k in MUST_BE_ZERO) or result.rounds != args.rounds else 0


if __name__ == "__main__":
    sys.exit(main())
