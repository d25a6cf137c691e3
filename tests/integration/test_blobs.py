"""Blobs over gRPC on real nodes: hash checked on upload and download, caps, and fetching from peers."""

import grpc
import pytest

from chain.api.blob_service import BlobClient
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
