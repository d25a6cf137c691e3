"""gRPC BlobService: chunked upload and download of content-addressed blobs, hashes checked both ways."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import grpc

from chain.blobs import BlobError, BlobHashMismatch, BlobNotFound, BlobStore, BlobTooLarge
from proto import blob_pb2, blob_pb2_grpc

CHUNK = 1024 * 1024
FetchRemote = Callable[[bytes], Awaitable[bool]]


class BlobService(blob_pb2_grpc.BlobServiceServicer):
    def __init__(self, store: BlobStore, fetch_remote: FetchRemote | None = None):
        self.store, self.fetch_remote = store, fetch_remote

    async def PutBlob(self, request_iterator, context):  # noqa: N802
        writer = None
        try:
            async for chunk in request_iterator:
                if writer is None:
                    if chunk.size > self.store.max_blob_bytes:
                        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                            f"blob of {chunk.size} bytes exceeds the cap of {self.store.max_blob_bytes}")
                    writer = self.store.writer(bytes(chunk.hash) if chunk.hash else None)
                writer.write(chunk.data)
            if writer is None:
                writer = self.store.writer(None)
            digest = writer.finish()
            return blob_pb2.BlobRef(hash=digest, size=writer.size)
        except BlobTooLarge as e:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        except BlobHashMismatch as e:
            await context.abort(grpc.StatusCode.DATA_LOSS, str(e))
        except BlobError as e:
            if writer is not None:
                writer.abort()
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))

    async def GetBlob(self, request, context):  # noqa: N802
        blob_hash = bytes(request.hash)
        if len(blob_hash) != 32:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"a blob hash is 32 bytes, got {len(blob_hash)}")
        if not self.store.has(blob_hash) and self.fetch_remote is not None:
            await self.fetch_remote(blob_hash)
        try:
            size = self.store.size(blob_hash)
            first = True
            for data in self.store.read_chunks(blob_hash, CHUNK):
                yield blob_pb2.BlobChunk(hash=blob_hash if first else b"", size=size if first else 0, data=data)
                first = False
            if first:
                yield blob_pb2.BlobChunk(hash=blob_hash, size=0, data=b"")
        except BlobNotFound as e:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except BlobHashMismatch as e:
            await context.abort(grpc.StatusCode.DATA_LOSS, str(e))

    async def StatBlob(self, request, context):  # noqa: N802
        blob_hash = bytes(request.hash)
        if len(blob_hash) != 32:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"a blob hash is 32 bytes, got {len(blob_hash)}")
        if not self.store.has(blob_hash):
            return blob_pb2.BlobInfo(present=False)
        return blob_pb2.BlobInfo(present=True, size=self.store.size(blob_hash), pinned=self.store.is_pinned(blob_hash))


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
            yield blob_pb2.BlobChunk(hash=(expected or b"") if first else b"", size=len(data) if first else 0,
                                     data=data[offset:offset + CHUNK])

    def put(self, data: bytes, expected: bytes | None = None) -> bytes:
        return bytes(self.stub.PutBlob(self._chunks(data, expected)).hash)

    def get(self, blob_hash: bytes) -> bytes:
        data = b"".join(c.data for c in self.stub.GetBlob(blob_pb2.BlobRequest(hash=blob_hash)))
        if hashlib.blake2b(data, digest_size=32).digest() != blob_hash:
            raise BlobHashMismatch(f"downloaded bytes do not hash to 0x{blob_hash.hex()}")
        return data
