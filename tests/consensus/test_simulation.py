"""Consensus under simulation: liveness, safety with byzantine twins, partitions, and crashes at every write.

Each failing case names its seed (and crash point) in the assertion message; replay it with
`Simulation(n=..., seed=..., ...)` from tests/consensus/simulator.py.
"""

from __future__ import annotations

import pytest

from consensus.certificate import verify_certificate
from consensus.evidence import verify_evidence
from tests.consensus.simulator import GENESIS, Simulation


def test_all_honest_four_validators_commit_twenty_heights_and_agree():
    sim = Simulation(n=4, seed=1)
    sim.start()
    assert sim.run_until_height(20, max_time=120.0), (
        f"seed 1: stuck at {[nd.next_height for nd in sim.nodes]}"
    )
    assert sim.safety_violations() == []
    reference = sim.nodes[0].committed
    for node in sim.nodes:
        assert {h: c[0] for h, c in node.committed.items()} == {h: c[0] for h, c in reference.items()}
    for height, (block_hash, block, cert) in reference.items():
        assert block.startswith(b"h%d-" % height)
        verify_certificate(cert, block_hash, height, sim.validator_set, GENESIS)


@pytest.mark.parametrize("seed", range(5))
def test_all_honest_with_drops_stay_live(seed):
    sim = Simulation(n=7, seed=seed, drop=0.2)
    sim.start()
    assert sim.run_until_height(5, max_time=200.0), (
        f"seed {seed}: stuck at {[nd.next_height for nd in sim.nodes]}"
    )
    assert sim.safety_violations() == [], f"seed {seed}"


def test_unequal_stakes_commit():
    sim = Simulation(n=5, seed=3, stakes=[10, 1, 1, 1, 30])
    sim.start()
    assert sim.run_until_height(10, max_time=120.0)
    assert sim.safety_violations() == []


def _twins_sweep(n: int, seeds: range, heights: int = 3) -> None:
    f = (n - 1) // 3
    seeds_with_evidence = 0
    for seed in seeds:
        sim = Simulation(n=n, seed=seed, twins=f, drop=0.05)
        sim.start()
        live = sim.run_until_height(heights, max_time=120.0)
        violations = sim.safety_violations()
        assert violations == [], f"n={n} f={f} seed={seed}: {violations}"
        assert sim.double_signatures(honest_only=True) == [], (
            f"n={n} seed={seed}: an honest node double-signed"
        )
        assert live, f"n={n} f={f} seed={seed}: honest nodes stuck at {[nd.next_height for nd in sim.nodes]}"
        evidence = [e for nd in sim.honest_nodes() for e in nd.evidence]
        current_height = max(nd.next_height for nd in sim.nodes)
        for e in evidence:
            verify_evidence(e, sim.validator_set, GENESIS, current_height=current_height, max_age=100)
            assert e.offender in {sim.keys[i].public for i in range(f)}, (
                f"seed {seed}: evidence against an honest node"
            )
        seeds_with_evidence += bool(evidence)
    assert seeds_with_evidence > 0, f"n={n}: no seed in {seeds} produced evidence against the twins"


@pytest.mark.parametrize("n", [4, 7, 10])
def test_byzantine_twins_never_fork_quick(n):
    _twins_sweep(n, range(20))


@pytest.mark.slow
@pytest.mark.parametrize("n", [4, 7, 10])
def test_byzantine_twins_never_fork_over_200_seeds(n):
    _twins_sweep(n, range(1000, 1200), heights=5)


def test_partition_two_two_halts_then_recovers_after_healing():
    sim = Simulation(n=4, seed=7)
    sim.split({0, 1}, {2, 3})
    sim.start()
    sim.run(until=30.0)
    assert all(not nd.committed for nd in sim.nodes), "a 2/2 split must not commit anything"
    sim.heal()
    assert sim.run_until_height(5, max_time=200.0), (
        f"stuck after healing at {[nd.next_height for nd in sim.nodes]}"
    )
    assert sim.safety_violations() == []


def _write_count(seed: int, heights: int) -> int:
    sim = Simulation(n=4, seed=seed)
    sim.start()
    assert sim.run_until_height(heights, max_time=60.0)
    return sim.nodes[0].writes


def _crash_sweep(seed: int, heights: int, points: range, amnesia: bool = False) -> list[str]:
    problems = []
    for k in points:
        sim = Simulation(n=4, seed=seed, amnesia=amnesia)
        sim.nodes[0].crash_at_write = k
        sim.start()
        live = sim.run_until_height(heights, max_time=120.0)
        if not amnesia:
            assert sim.nodes[0].crashes == 1, f"seed {seed} write {k}: the crash did not happen"
            assert live, f"seed {seed} crash at write {k}: stuck at {[nd.next_height for nd in sim.nodes]}"
            assert sim.safety_violations() == [], f"seed {seed} crash at write {k}"
        problems.extend(f"crash at write {k}: {d}" for d in sim.double_signatures())
    return problems


def test_crash_at_every_wal_and_guard_write_never_double_signs():
    seed, heights = 11, 4
    writes = _write_count(seed, heights)
    assert writes > 30
    problems = _crash_sweep(seed, heights, range(1, writes + 1))
    assert problems == [], f"seed {seed}: {problems[:5]}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [21, 22, 23])
def test_crash_at_every_write_more_seeds(seed):
    writes = _write_count(seed, 6)
    assert _crash_sweep(seed, 6, range(1, writes + 1)) == [], f"seed {seed}"


def test_restart_without_guard_or_wal_is_caught_double_signing():
    """Negative control: the double-sign check has teeth when a validator forgets what it signed."""
    seed, heights = 11, 4
    writes = _write_count(seed, heights)
    problems = _crash_sweep(seed, heights, range(1, writes + 1), amnesia=True)
    assert problems, "forgetting the guard and the WAL should let some crash point double-sign"
