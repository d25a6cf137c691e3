"""Partitions of real node processes on loopback, made at the transport by the nodes' fault files.

A 2/2 split leaves neither side with more than 2/3 of the stake, so no height may be committed anywhere
while it lasts; a 3/1 split leaves the majority committing and the lone node frozen. After every heal all
four nodes converge on one chain, hash for hash.
"""

import time

import pytest

from tests.faults.cluster import FaultNetwork, assert_same_chain, hashes, live_head
from tests.integration.harness import head_or_zero

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SETTLE = 2.0  # a height whose precommits were already in flight when the split came may still finish
SPLIT = 8.0


def heads(nodes) -> dict[str, int]:
    return {n.name: live_head(n) for n in nodes}


def test_partition_2_2_halts_3_1_continues_and_every_heal_converges(tmp_path):
    with FaultNetwork(tmp_path) as net:
        validators = [n for n in net.nodes if n.key]
        alice, bob, charlie, dave = validators
        net.wait_height(validators, 5, timeout=120)

        # 2/2: no side holds more than 2/3 of the stake, so nobody commits.
        net.partition([alice, bob], [charlie, dave])
        time.sleep(SETTLE)
        at_split = heads(validators)
        time.sleep(SPLIT)
        during = heads(validators)
        assert max(during.values()) == max(at_split.values()), (at_split, during)
        assert all(during[n] <= max(at_split.values()) for n in during), (at_split, during)
        split_hashes = {n.name: hashes(n, during[n.name]) for n in validators}

        net.heal()
        target = max(during.values()) + 5
        net.wait_height(validators, target, timeout=120)
        reference = assert_same_chain(validators, target)
        for name, before in split_hashes.items():  # nothing committed during the split was rewritten
            assert reference[: len(before)] == before, name

        # 3/1: the three keep committing; Dave, alone, freezes; healed, he catches up on the same chain.
        net.partition([alice, bob, charlie], [dave])
        time.sleep(SETTLE)
        at_split = heads(validators)
        net.wait_height([alice, bob, charlie], max(at_split.values()) + 5, timeout=60)
        assert head_or_zero(dave) == at_split["Dave"]

        net.heal()
        target = max(head_or_zero(n) for n in validators) + 3
        net.wait_height(validators, target, timeout=120)
        assert_same_chain(validators, target)
