"""The signature verifier's threads verify a peer's batch ahead of the pool, into the runtime's cache; the
pool's check on the loop then finds each good signature there, and still refuses a bad one as before.

Real parts throughout: a dev chain's database and runtime, the verifier's threads, and, for the peer
path, an in-process node with a fake peer over the real gRPC transport. Only the Ed25519 verifier itself
is wrapped, to count where and how often it runs."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import pytest

from chain.client import transfer_call
from chain.network.peers import Network
from chain.network.transport import GrpcTransport
from chain.node.config import NodeConfig
from chain.node.service import Node
from chain.node.signature_verifier import SignatureVerifier
from chain.primitives.crypto import VERIFIERS, Keypair, SignatureScheme, dev_keypair
from chain.primitives.extrinsic import Era, UncheckedExtrinsic, sign_extrinsic
from chain.primitives.hashing import blake2_256
from proto import p2p_pb2
from runtime import executive
from runtime import validity as v
from runtime.chain_spec import load_chain_spec
from runtime.executive import verified_signature
from tests.faults.attacks import SilentPeer
from tests.faults.test_floods import broken_signature

SENDERS = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")


@pytest.fixture
def verifications(monkeypatch) -> list[tuple[bytes, str]]:
    """(signature, thread name) for every Ed25519 verification the runtime asks for, cached ones not."""
    calls: list[tuple[bytes, str]] = []
    verify = VERIFIERS[SignatureScheme.ED25519]

    def counted(public: bytes, message: bytes, signature: bytes) -> bool:
        calls.append((signature, threading.current_thread().name))
        return verify(public, message, signature)

    monkeypatch.setitem(VERIFIERS, SignatureScheme.ED25519, counted)
    return calls


def transfers(genesis_hash: bytes, count: int) -> list[bytes]:
    """`count` transfers from the dev accounts with consecutive nonces, one in three mortal; the amounts are
    random, so no signature is in the process-wide cache from an earlier test."""
    runtime_version = load_chain_spec("dev").runtime().version
    raws = []
    for i in range(count):
        sender = dev_keypair(SENDERS[i % len(SENDERS)])
        era = Era.mortal(64, 0) if i % 3 == 0 else Era()
        raws.append(
            sign_extrinsic(
                sender,
                transfer_call(dev_keypair("Ferdie").public, 10**10 + int.from_bytes(os.urandom(6), "little")),
                nonce=i // len(SENDERS),
                spec_version=runtime_version.spec_version,
                tx_version=runtime_version.transaction_version,
                genesis_hash=genesis_hash,
                era=era,
                birth_hash=genesis_hash if i % 3 == 0 else None,
            ).encode()
        )
    return raws


def signature_of(raw: bytes) -> bytes:
    return UncheckedExtrinsic.decode(raw).signature.signature


def test_a_verified_batch_is_answered_from_the_cache_by_the_pools_check(chain, verifications):
    batch = transfers(chain.runtime.genesis_hash, 40)
    verifier = SignatureVerifier(2)
    try:
        asyncio.run(verifier.verify(chain.signature_checks(batch)))
    finally:
        verifier.close()
    assert sorted(s for s, _ in verifications) == sorted(map(signature_of, batch))
    assert {thread for _, thread in verifications} <= {"signature-verifier_0", "signature-verifier_1"}
    verifications.clear()
    for raw in batch:
        chain.validate_transaction(raw)
    assert verifications == []  # every signature the pool checked was already verified


def test_signature_checks_leave_out_what_the_pool_refuses_before_its_signature_check(chain, verifications):
    good = transfers(chain.runtime.genesis_hash, 1)
    undecodable = b"\x01\xff"
    checks = chain.signature_checks([undecodable, *good, b""])
    assert [c.signature for c in checks] == [signature_of(good[0])]
    with pytest.raises(v.Undecodable):
        chain.validate_transaction(undecodable)


def test_a_bad_signature_in_a_verified_batch_is_still_verified_by_the_pool_and_refused(chain, verifications):
    good = transfers(chain.runtime.genesis_hash, 2)
    bad = broken_signature(good[1])
    verifier = SignatureVerifier(2)
    try:
        asyncio.run(verifier.verify(chain.signature_checks([good[0], bad])))
    finally:
        verifier.close()
    verifications.clear()
    chain.validate_transaction(good[0])
    with pytest.raises(v.BadProof):
        chain.validate_transaction(bad)
    assert [s for s, _ in verifications] == [signature_of(bad)]  # failures are never cached


def test_with_no_threads_the_verifier_does_nothing_and_the_pool_verifies_on_the_loop(chain, verifications):
    batch = transfers(chain.runtime.genesis_hash, 3)
    asyncio.run(SignatureVerifier(0).verify(chain.signature_checks(batch)))
    assert verifications == []
    for raw in batch:
        chain.validate_transaction(raw)
    assert {thread for _, thread in verifications} == {threading.current_thread().name}
    assert len(verifications) == 3


def test_the_cache_keeps_its_bound_and_every_entry_under_concurrent_inserts(monkeypatch):
    bound, threads, per_thread = 64, 4, 50_000
    monkeypatch.setattr(executive, "SIGNATURE_CACHE_SIZE", bound)
    monkeypatch.setattr(executive, "_verified", {})
    monkeypatch.setitem(VERIFIERS, SignatureScheme.ED25519, lambda public, message, signature: True)
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def insert(thread: int) -> None:
        start.wait()
        try:
            for i in range(per_thread):
                assert verified_signature(bytes(32), b"%d:%d" % (thread, i), bytes(64))
                assert len(executive._verified) <= bound
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows, inside the insert and evict
    try:
        workers = [threading.Thread(target=insert, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert len(executive._verified) == bound
    inserted = {
        blake2_256(bytes((SignatureScheme.ED25519,)) + bytes(32) + bytes(64) + b"%d:%d" % (t, i)): (t, i)
        for t in range(threads)
        for i in range(per_thread)
    }
    assert set(executive._verified) <= set(inserted)
    monkeypatch.setitem(VERIFIERS, SignatureScheme.ED25519, lambda public, message, signature: False)
    for key in list(executive._verified):  # each entry answers from the cache, the verifier now refusing all
        thread, i = inserted[key]
        assert verified_signature(bytes(32), b"%d:%d" % (thread, i), bytes(64))


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_a_peers_batch_is_verified_on_the_threads_and_its_bad_signature_still_strikes_the_peer(
    tmp_path, verifications
):
    spec = load_chain_spec("dev")
    node = Node(
        NodeConfig(
            base_path=tmp_path,
            p2p_port=0,
            grpc_port=0,
            rpc_port=None,
            prometheus_port=None,
            signature_threads=2,  # off by default
        ),
        spec,
    )
    good = transfers(spec.genesis_hash, 3)
    bad = broken_signature(transfers(spec.genesis_hash, 4)[3])

    async def scenario() -> None:
        await node.start()
        peer_key = Keypair.generate()
        fake = Network(
            GrpcTransport(),
            peer_key,
            spec.genesis_hash,
            SilentPeer(spec.genesis_hash),
            "127.0.0.1:0",
            bootnodes=[node.network.listen_addr],
        )
        await fake.start()
        try:
            await _until(
                lambda: fake.peers and peer_key.public in node.network.peers, 20, "the peer to connect"
            )
            batch = p2p_pb2.TransactionBatch(extrinsics=[good[0], bad, good[1], good[2]])
            await next(iter(fake.peers.values())).send(p2p_pb2.PeerMessage(transactions=batch))
            await _until(lambda: len(node.pool) == 3, 20, "the good transfers to be pooled")
            await _until(lambda: node.network.peers[peer_key.public].strikes == 1, 5, "the strike")
        finally:
            await fake.stop()
            await node.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert all(blake2_256(raw) in node.pool for raw in good)
    on_threads = [s for s, thread in verifications if thread.startswith("signature-verifier")]
    on_loop = [s for s, thread in verifications if not thread.startswith("signature-verifier")]
    assert sorted(on_threads) == sorted(map(signature_of, [*good, bad]))
    assert on_loop == [signature_of(bad)]  # the pool verified only what the threads could not cache
