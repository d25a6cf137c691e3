"""Every fault class of the market end to end on a real dev chain: time and on-chain moves from the
commitment to the settlement.

It runs the adversarial suite's setup (tests/adversarial/harness.py): one validator node with a chain spec
of short time floors, the referee, verifier and whistleblower as `gradchain worker` processes, and for each
job its own honest or cheating solver process (tests/adversarial/cheater.py) and any extra challenger. Each
fault class is one tiny job (an MLP 16-32-4, 40 steps, k = 10). Per class it reports:
- `status` and `disputes` (id, kind, segment, lo, hi, outcome, resolution): the verdict;
- `seconds`: chain time (Timestamp) from the block of the commitment to the block that settled the job; for
  dataset faults, which never get a commitment, from the assignment;
- `onchain_moves`: the parties' signed market extrinsics in that span, and `moves` by party and call;
- `bisection_rounds` (Responded events) and `votes` (RefereeVoted events) in the whole job;
- `balance_changes_fees_aside`, `fees`, `burned`, `issuance_change`;
- `wall_seconds`: the whole job on this machine, from the workers' start to the settlement.
The spec over the cost cap is refused at submission: its row has the refusal and the one failed move.

Without --quick every class runs `--repeats` times (reporting the run with the median `seconds`, and the
min and max), and the wrong-step cheat also runs at k = 64 and 1,024 (2k steps, the cheat in segment 1),
where the bisection rounds grow as log2 k and the dispute must land on the perturbed step.

Run: `python benchmarks/bench_market_dispute.py --quick` (about 4 minutes on 2 cores). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tests.adversarial import faults  # noqa: E402
from tests.adversarial.harness import Market  # noqa: E402

DATASET_FAULTS = (
    ("undecodable", faults.undecodable_dataset, True),
    ("non-finite", faults.non_finite_dataset, True),
    ("labels out of range", faults.labels_out_of_range_dataset, True),
    ("over the cap", faults.oversized_dataset, False),
    ("never uploaded", faults.never_uploaded_dataset, False),
)
SOLVER_CHEATS = (
    "trains-nothing",
    "skips-update",
    "other-run-checkpoint",
    "forged-final-model",
    "random-final-hash",
    "garbage-hash-list",
    "withheld-hash-list",
    "first-step",
    "last-step",
    "false-dataset-report",
    "late-checkpoint",
)


def fault_classes(m: Market) -> dict:
    """Each class, as a function that plays its job: which solver process, extra challenger and dataset."""

    def honest():
        return m.worker("solver", "solver")

    def false_challenger():
        return m.adversary(
            "whistleblower-false", "second whistleblower", "--audit-share", "0.2", label="false-challenger"
        )

    def second_whistleblower():
        return m.worker("whistleblower", "second whistleblower", label="second-whistleblower")

    classes = {"honest job": lambda: m.play(honest())}
    for cheat in SOLVER_CHEATS:
        classes[cheat] = lambda cheat=cheat: m.play(m.cheater(cheat))
    classes["two challengers"] = lambda: m.play(
        m.cheater("middle-step"), challengers=(second_whistleblower(),)
    )
    classes["false challenge"] = lambda: m.play(honest(), challengers=(false_challenger(),))
    for name, blob, upload in DATASET_FAULTS:
        classes[f"dataset {name}"] = lambda blob=blob, upload=upload: m.play(
            honest(), dataset=blob(), upload=upload
        )
    return classes


def measure(m: Market, play) -> dict:
    started = time.monotonic()
    run = play()
    return {**m.summary(run), "wall_seconds": round(time.monotonic() - started, 2)}


def over_the_cost_cap(m: Market) -> dict:
    started = time.monotonic()
    status = m.submit_raw(faults.over_the_cost_cap(bytes(32)))
    return {
        "status": "REFUSED" if not status.success else "ACCEPTED",
        "reason": status.reason,
        "onchain_moves": 1,
        "seconds": 0.0,
        "wall_seconds": round(time.monotonic() - started, 2),
    }


def repeated(m: Market, play, repeats: int) -> dict:
    runs = [measure(m, play) for _ in range(repeats)]
    if repeats == 1:
        return runs[0]
    seconds = [r["seconds"] for r in runs]
    median = min(runs, key=lambda r: abs(r["seconds"] - statistics.median(seconds)))
    return {**median, "repeats": repeats, "seconds_min": min(seconds), "seconds_max": max(seconds)}


def step_cheat_by_interval(m: Market, k: int) -> dict:
    """The wrong-step cheat on a job of 2k steps, perturbed after step k + 3: rounds and landing."""
    run = m.play(m.cheater("middle-step"), steps=2 * k, interval=k, timeout=1800)
    won = run.winners[0] if run.winners else None
    return {
        "k": k,
        "steps": 2 * k,
        "cheat_after_step": k + 3,
        **m.summary(run),
        "landed_on_step": won.lo if won else None,
        "exact": bool(won and won.lo == k + 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per class, no large-k runs")
    parser.add_argument("--repeats", type=int, default=3, help="runs per class without --quick")
    parser.add_argument("--k", type=int, nargs="*", default=[64, 1024], help="intervals for the large-k runs")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    with tempfile.TemporaryDirectory(prefix="bench-market-dispute-") as tmp, Market(Path(tmp)) as m:
        rows = [{"class": name, **repeated(m, play, repeats)} for name, play in fault_classes(m).items()]
        rows.append({"class": "spec over the cost cap", **over_the_cost_cap(m)})
        by_k = [] if args.quick else [step_cheat_by_interval(m, k) for k in args.k]
    print(
        json.dumps(
            {
                "benchmark": "market_dispute_by_fault_class",
                "quick": args.quick,
                "classes": rows,
                "step_cheat_by_interval": by_k,
            }
        )
    )


if __name__ == "__main__":
    main()
