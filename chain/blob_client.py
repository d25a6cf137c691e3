"""The client side of the gRPC BlobService, for workers and the CLI: an upload returns the blob's hash, a
download is checked against the hash it was asked for.

It lives apart from the service (`chain.api.blob_service`), so a market worker that fetches and uploads
blobs imports none of the node's server-side code (the layer contracts in pyproject.toml check it).
"""

from __future__ import annotations

import hashlib

import grpc

from chain.blob_errors import BlobHashMismatch
from proto import blob_pb2, blob_pb2_grpc

CHUNK = 1024 * 1024  # bytes per uploaded chunk


class BlobClient:
    """Client side used by workers and the CLI: upload returns the hash; download verifies it."""

    def __init__(self, channel: grpc.aio.Channel | grpc.Channel):
        self.stub = blob_pb2_grpc.BlobServiceStub(channel)

    @staticmethod
    def _chunks(data: bytes, expected: bytes | None):
        if not data:
            yield blob_pb2.BlobChunk(hash=expected or b"", size=0, data=b"")
        for offset in range(0, len(data), CHUNK):
            first = offset == 0
            yield blob_pb2.BlobChunk(
                hash=(expected or b"") if first else b"",
                size=len(data) if first else 0,
                data=data[offset : offset + CHUNK],
            )

    def put(self, data: bytes, expected: bytes | None = None) -> bytes:
        return bytes(self.stub.PutBlob(self._chunks(data, expected)).hash)

    def get(self, blob_hash: bytes) -> bytes:
        data = b"".join(c.data for c in self.stub.GetBlob(blob_pb2.BlobRequest(hash=blob_hash)))
        if hashlib.blake2b(data, digest_size=32).digest() != blob_hash:
            raise BlobHashMismatch(f"downloaded bytes do not hash to 0x{blob_hash.hex()}")
        return data
