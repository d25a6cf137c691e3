"""Consensus cost by validator-set size, in the deterministic simulator with a 50 ms one-way delay.

Prints one JSON object. For n = 4, 16, 64, 128 honest validators (equal stake, no drops, no re-gossip):

- commit_latency_virtual_s / commit_latency_network_delays: virtual time between consecutive commits
  (steady state, heights 2..H), also in units of the one-way delay (Tendermint's ideal is 3: proposal,
  prevotes, precommits);
- messages_per_height: point-to-point messages the network carried per committed height (~ 2 n^2 + n);
- cpu_ms_per_height_per_validator: wall-clock time of the whole simulation divided by heights and by n,
  which includes every real Ed25519 signature and verification (no shared verification cache), so it
  grows with n as each validator checks O(n) votes per height;
- ed25519_verifies_per_s: raw verifications per second on this machine in the same run, to read the
  above as a ratio rather than an absolute.

Run: `python benchmarks/bench_consensus.py` (about a minute).
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chain.primitives.crypto import Keypair, verify  # noqa: E402
from tests.consensus.simulator import Simulation  # noqa: E402

DELAY = 0.05
HEIGHTS = {4: 20, 16: 10, 64: 5, 128: 4}


def raw_verify_rate(samples: int = 2000) -> float:
    key = Keypair.from_seed(b"\x01" * 32)
    message = b"gradchain/vote" + b"\x00" * 64
    sig = key.sign(message)
    start = time.perf_counter()
    for _ in range(samples):
        verify(key.public, message, sig)
    return samples / (time.perf_counter() - start)


def measure(n: int, heights: int) -> dict:
    sim = Simulation(
        n=n,
        seed=0,
        delay=DELAY,
        jitter=0.0,
        gossip_interval=None,
        verify_signature=verify,
        keep_emitted=False,
    )
    sim.validator_set.proposer(1, 0)  # build the rotation table outside the timed region
    start = time.perf_counter()
    sim.start()
    assert sim.run_until_height(heights, max_time=60.0 * heights), f"n={n}: no progress"
    wall = time.perf_counter() - start
    assert sim.safety_violations() == []
    times = sim.nodes[0].commit_times
    steady = [(times[h] - times[h - 1]) for h in range(2, heights + 1)]
    latency = sum(steady) / len(steady)
    return {
        "validators": n,
        "heights": heights,
        "first_commit_virtual_s": round(times[1], 4),
        "commit_latency_virtual_s": round(latency, 4),
        "commit_latency_network_delays": round(latency / DELAY, 2),
        "messages_per_height": round(sim.messages_sent / heights, 1),
        "cpu_ms_per_height_per_validator": round(1000 * wall / heights / n, 3),
        "wall_s": round(wall, 2),
    }


def main() -> None:
    result = {
        "benchmark": "consensus",
        "one_way_delay_s": DELAY,
        "ed25519_verifies_per_s": round(raw_verify_rate()),
        "runs": [measure(n, h) for n, h in HEIGHTS.items()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
