"""The throughput benchmark's quick run on a dev node: it reports every figure, and nothing accepted is lost.

No timing thresholds: the figures depend on the machine; what must hold anywhere is that every accepted
transfer is finalized exactly once and no far-future transfer of the flood is included.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.integration.harness import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUN_KEYS = {
    "transfers",
    "accepted",
    "rejected",
    "finalized",
    "transfers_per_s",
    "latency_p50_s",
    "latency_p99_s",
    "lost",
    "included_twice",
    "flood_included",
    "accepted_behind_a_refused_nonce",
}


def run_json(args: list[str], timeout: float) -> dict:
    """Run a benchmark script; the JSON object it printed (its exit status 0, or the test fails)."""
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-4000:]
    return json.loads(done.stdout)


def test_quick_dev_run_reports_every_figure_and_loses_no_accepted_transfer():
    out = run_json([str(ROOT / "benchmarks" / "bench_throughput.py"), "--quick", "--targets", "dev"], 240)

    assert out["raw_verifies_per_s"] > 0 and out["runtime_transfers_per_s"] > 0
    assert set(out["idle_cpu_percent"]) == {"dev"}
    assert set(out["ratios"]) == {"dev_over_runtime", "dev_over_raw_verifies", "flood_over_clean"}
    for transport in ("grpc", "ws"):
        clean, flooded = out["dev"][transport]["clean"], out["dev"][transport]["flood"]
        for run in (clean, flooded):
            assert RUN_KEYS <= set(run), run
            assert run["finalized"] == run["accepted"] - run["accepted_behind_a_refused_nonce"] > 0, run
            assert run["lost"] == 0 and run["included_twice"] == 0 and run["flood_included"] == 0, run
    flood = out["dev"]["far_future_flood"]
    assert flood["parked"] > 0 and flood["parked"] + sum(flood["refused"].values()) == flood["submitted"], (
        flood
    )
    assert out["lost"] == 0 and out["included_twice"] == 0


RUNTIME_STAGES = {"build_in_memory", "execute_in_memory", "chain_state_leveldb"}


def test_bench_runtime_reports_each_stage_against_raw_verifies_and_applies_every_transfer_once():
    script = str(ROOT / "benchmarks" / "bench_runtime.py")
    usage = subprocess.run(
        [sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert usage.returncode == 0 and "--per-block" in usage.stdout, usage.stderr
    out = run_json([script, *"--blocks 2 --per-block 50 --accounts 500 --verifies 500".split()], 120)
    assert out["applied_exactly_once"] is True and out["transfers"] == 100
    assert out["pynacl_ed25519_verify_per_s"] > 0
    assert set(out["stages"]) == RUNTIME_STAGES
    for stage in out["stages"].values():
        assert (
            stage["transfers_per_s"] > 0 and stage["ratio_to_verify"] > 0 and len(stage["block_seconds"]) == 2
        )
