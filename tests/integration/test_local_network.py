"""A four-validator `local` chain of real node processes on loopback."""

import pytest

from chain.client import transfer_call
from chain.primitives.crypto import dev_keypair
from chain.primitives.types import Block
from consensus.certificate import CommitCertificate, verify_certificate
from consensus.validators import ValidatorSet
from tests.integration.harness import Network

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def hashes_at(node, upto: int) -> list[bytes]:
    with node.client() as c:
        return [bytes(c.header(number=n).hash) for n in range(upto + 1)]


def test_four_validators_finalize_transfer_survive_kill_and_sync_observer(tmp_path):
    with Network(tmp_path, observers=1) as net:
        validators = [n for n in net.nodes if n.key]
        net.wait_height(validators, 30, timeout=180)

        # A transfer submitted through one node is final on all four.
        alice, bob = dev_keypair("Alice"), dev_keypair("Ferdie")  # Ferdie authors no blocks, so earns no fees
        with validators[2].client() as c:
            before = int(c.account(bob.ss58()).free)
            status = c.submit_and_watch(c.sign(alice, transfer_call(bob.public, 10**12)))
        assert status.success, status.reason
        for node in validators:
            net.wait_for(lambda node=node: node.head() >= status.block_number, 60, f"{node.name} to final")
            with node.client() as c:
                assert int(c.account(bob.ss58()).free) == before + 10**12
                assert bytes(c.header(number=status.block_number).hash) == bytes(status.block_hash)

        # kill -9 one validator: the other three keep finalizing; restarted, it catches up.
        dave = net.by_name("Dave")
        dave.kill9()
        others = [n for n in validators if n is not dave]
        target = max(n.head() for n in others) + 5
        net.wait_height(others, target, timeout=90)
        dave.start()
        net.wait_height([dave], target, timeout=90)

        # A fifth, non-validator node syncs from genesis and verifies every certificate.
        observer = net.by_name("observer0")
        observer.start()
        target = max(n.head() for n in others)
        net.wait_height([observer], target, timeout=120)
        reference = hashes_at(validators[0], target)
        assert hashes_at(observer, target) == reference
        assert hashes_at(dave, target) == reference
        with observer.client() as c:
            validator_set = ValidatorSet.of(
                (dev_keypair(n).public, 10**17) for n in ("Alice", "Bob", "Charlie", "Dave")
            )
            genesis = bytes(c.info().genesis_hash)
            for n in range(1, target + 1):
                block = c.block(number=n)
                cert = CommitCertificate.decode(bytes(block.justification))
                decoded = Block.decode(bytes(block.header.encoded) + _body(block))
                verify_certificate(cert, decoded.header.hash, n, validator_set, genesis)


def _body(block) -> bytes:
    from chain.primitives.codec import encode_compact

    return encode_compact(len(block.extrinsics)) + b"".join(block.extrinsics)
