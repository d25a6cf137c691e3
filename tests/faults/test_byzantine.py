"""Byzantine validators as real processes on a chain with a ten-block epoch.

(a) a twin: a second process signing with Dave's validator key; (b) Dave run with `--byzantine equivocate`,
signing a conflicting prevote at every third height on purpose. In both cases, with 1/4 of the stake
byzantine: no two different blocks are finalized at any height across the honest nodes; the honest
validators turn the conflicting votes into evidence that lands in a block (Staking OffenceReported and
Slashed events); Dave's stake is slashed; and from the next epoch boundary on Dave is out of the active set
(the later blocks' certificates verify against Alice, Bob and Charlie alone).
"""

import json

import pytest

from chain.client import NodeClient
from chain.primitives.crypto import dev_keypair
from consensus.validators import ValidatorSet
from tests.faults.cluster import (
    ChainAudit,
    FaultNetwork,
    assert_same_chain,
    build_spec,
    live_head,
    wait_until,
)
from tests.integration.harness import head_or_zero

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EPOCH = 10
BOND = 10**17


def offence_block(node, start: int = 1) -> int | None:
    with NodeClient(node.grpc_addr) as c:
        for n in range(start, c.info().finalized_number + 1):
            if any(
                ev.pallet == "Staking" and ev.name == "OffenceReported" for ev in c.events(number=n).events
            ):
                return n
    return None


def dave_stash(spec_path) -> str:
    doc = json.loads(spec_path.read_text())
    session = "0x" + dev_keypair("Dave").public.hex()
    return next(
        stash
        for stash, key, _bond in doc["genesis"]["runtimeGenesis"]["config"]["staking"]["stakers"]
        if key == session
    )


def check_offender_punished_and_removed(net: FaultNetwork, spec_path) -> None:
    honest = [net.by_name(n) for n in ("Alice", "Bob", "Charlie")]
    found: list[int] = []
    wait_until(
        lambda: found.append(offence_block(honest[0])) or found[-1] is not None,
        150,
        "an OffenceReported event in a finalized block",
        interval=2.0,
    )
    offence_at = found[-1]
    boundary = (offence_at // EPOCH + 1) * EPOCH
    target = boundary + 6
    net.wait_height(honest, target, timeout=150)

    # Safety among honest nodes, and the evidence was punished exactly as staking says.
    assert_same_chain(honest, target)
    audit = ChainAudit(honest[0], target)
    names = {name for _, name, _ in audit.offences}
    assert {"OffenceReported", "Slashed"} <= names, audit.offences
    assert not audit.duplicate_inclusions
    with NodeClient(honest[0].grpc_addr) as c:
        reserved = int(c.account(dave_stash(spec_path)).reserved)
    assert reserved < BOND, f"Dave's stash still has {reserved} reserved"

    # From the boundary on, the three honest validators alone sign (Dave is out of the active set).
    three = ValidatorSet.of((dev_keypair(n).public, BOND) for n in ("Alice", "Bob", "Charlie"))
    later = ChainAudit(honest[0], target, three)
    bad_after = [(n, e) for n, e in later.bad_certificates if n > boundary + 1]
    assert not bad_after, bad_after


def test_twin_validator_is_slashed_and_removed_without_a_fork(tmp_path):
    spec = build_spec(tmp_path, EPOCH)
    with FaultNetwork(tmp_path / "net", chain=str(spec)) as net:
        twin = net.add_node("DaveTwin", "//Dave")
        twin.start()
        net.wait_height([net.by_name("Alice")], 2, timeout=60)
        check_offender_punished_and_removed(net, spec)
        # The twin keeps running and follows the honest chain: it finalized no block of its own making.
        twin_head = live_head(twin)
        assert twin_head > 0, f"the twin stopped or finalized nothing:\n{twin.log_tail()}"
        alice = net.by_name("Alice")
        assert_same_chain([alice, twin], min(twin_head, head_or_zero(alice)))


def test_equivocating_validator_is_slashed_and_removed_without_a_fork(tmp_path):
    spec = build_spec(tmp_path, EPOCH)
    net = FaultNetwork(tmp_path / "net", chain=str(spec))
    net.by_name("Dave").extra += ["--byzantine", "equivocate"]
    with net:
        check_offender_punished_and_removed(net, spec)
