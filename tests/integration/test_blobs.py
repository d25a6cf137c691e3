"""Blobs over gRPC on real nodes: hash checked on upload and download, caps, and fetching from peers."""

import grpc
import pytest

from chain.blob_client import BlobClient
from chain.primitives.hashing import blake2_256
from proto import blob_pb2, blob_pb2_grpc
from tests.integration.harness import Network

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_blob_uploaded_to_one_node_is_fetched_by_another_from_its_peers(tmp_path):
    with Network(tmp_path, validators=("Alice", "Bob", "Charlie", "Dave")) as net:
        alice, dave = net.by_name("Alice"), net.by_name("Dave")
        net.wait_height([alice, dave], 2, timeout=90)
        data = bytes(range(256)) * 5000  # 1.28 MB: more than one chunk
        with grpc.insecure_channel(alice.grpc_addr) as ch:
            assert BlobClient(ch).put(data) == blake2_256(data)
        with grpc.insecure_channel(dave.grpc_addr) as ch:
            stub = blob_pb2_grpc.BlobServiceStub(ch)
            assert not stub.StatBlob(blob_pb2.BlobRequest(hash=blake2_256(data))).present
            assert BlobClient(ch).get(blake2_256(data)) == data  # Dave asks its peers
            assert stub.StatBlob(blob_pb2.BlobRequest(hash=blake2_256(data))).present


def test_invalid_blob_uploads_are_refused(tmp_path):
    with Network(tmp_path, chain="dev", validators=("Alice",)) as net:
        alice = net.by_name("Alice")
        net.wait_height([alice], 1, timeout=60)
        with grpc.insecure_channel(alice.grpc_addr) as ch:
            client = BlobClient(ch)
            with pytest.raises(grpc.RpcError) as wrong:
                client.put(b"payload", expected=blake2_256(b"something else"))
            assert wrong.value.code() == grpc.StatusCode.DATA_LOSS
            stub = blob_pb2_grpc.BlobServiceStub(ch)
            with pytest.raises(grpc.RpcError) as huge:
                stub.PutBlob(iter([blob_pb2.BlobChunk(size=10**12, data=b"x")]))
            assert huge.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(grpc.RpcError) as missing:
                client.get(blake2_256(b"never uploaded"))
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.RpcError) as bad:
                list(stub.GetBlob(blob_pb2.BlobRequest(hash=b"short")))
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_unpinned_blobs_are_deleted_after_the_retention_and_a_live_jobs_dataset_is_kept(tmp_path):
    import time

    from chain.cli.demo import demo_spec
    from chain.primitives.crypto import dev_keypair
    from compute_market.worker import client as calls
    from compute_market.worker.client import MarketNode

    net = Network(tmp_path, chain="dev", validators=("Alice",))
    alice = net.by_name("Alice")
    alice.extra = [*alice.extra, "--blob-retention", "1"]
    with net:
        net.wait_height([alice], 1, timeout=60)
        submitter = MarketNode(alice.grpc_addr, dev_keypair("Ferdie"))
        data = b"a dataset, as far as pinning is concerned"
        dataset = blake2_256(data)  # the job names it first, so it is pinned before it is uploaded
        assert submitter.send(
            calls.submit_job(demo_spec(dataset, 1, 40).encode(), 100 * 10**12), "submit job", wait=True
        )
        assert submitter.put_blob(data) == dataset
        stray = submitter.put_blob(b"an upload no job refers to")
        with grpc.insecure_channel(alice.grpc_addr) as ch:
            stub = blob_pb2_grpc.BlobServiceStub(ch)

            def present(h: bytes) -> bool:
                return stub.StatBlob(blob_pb2.BlobRequest(hash=h)).present

            deadline = time.monotonic() + 30
            while present(stray):
                assert time.monotonic() < deadline, "the unpinned blob outlived its retention"
                time.sleep(0.3)
            assert present(dataset)  # the job is live (no solver took it), so its dataset is pinned
