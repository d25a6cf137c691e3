"""gRPC BlobService: chunked upload and download of content-addressed blobs, hashes checked both ways (the
client side is `chain.blob_client`).

An upload's first chunk announces the blob's size (and, optionally, its hash); the stream must carry exactly
that many bytes, or it is refused (INVALID_ARGUMENT) and nothing is kept. Uploads are unauthenticated, so
the per-uploader quota of the `BlobStore` is kept per peer IP address; a quota or size cap refuses with
RESOURCE_EXHAUSTED before the bytes are stored. A stream that sends no chunk for `idle_timeout` seconds is
ended with DEADLINE_EXCEEDED, and a chunk without data after the first is refused, so an upload cannot sit
open without making progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc

from chain.blobs import BlobError, BlobHashMismatch, BlobNotFound, BlobQuotaExceeded, BlobStore, BlobTooLarge
from proto import blob_pb2, blob_pb2_grpc

CHUNK = 1024 * 1024
DEFAULT_UPLOAD_IDLE_TIMEOUT = 30.0
FetchRemote = Callable[[bytes], Awaitable[bool]]


class UploadStalled(BlobError):
    """No chunk arrived within the idle timeout."""


def peer_address(peer: str) -> str:
    """The IP address in a gRPC peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000"), without the port."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer


class BlobService(blob_pb2_grpc.BlobServiceServicer):
    def __init__(
        self,
        store: BlobStore,
        fetch_remote: FetchRemote | None = None,
        idle_timeout: float = DEFAULT_UPLOAD_IDLE_TIMEOUT,
    ):
        self.store, self.fetch_remote, self.idle_timeout = store, fetch_remote, idle_timeout

    async def _chunks(self, request_iterator):
        """The upload's chunks, each within the idle timeout, every one after the first carrying data."""
        chunks = aiter(request_iterator)
        first = True
        while True:
            try:
                chunk = await asyncio.wait_for(anext(chunks), self.idle_timeout)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise UploadStalled(
                    f"no chunk arrived for {self.idle_timeout:g} s; the upload is ended"
                ) from None
            if not first and not chunk.data:
                raise BlobError("a chunk after the first carries no data")
            first = False
            yield chunk

    async def PutBlob(self, request_iterator, context):  # noqa: N802
        writer = None
        try:
            async for chunk in self._chunks(request_iterator):
                if writer is None:
                    writer = self.store.writer(
                        bytes(chunk.hash) if chunk.hash else None,
                        uploader=peer_address(context.peer()),
                        announced_size=chunk.size,
                    )
                writer.write(chunk.data)
            if writer is None:
                writer = self.store.writer(None, uploader=peer_address(context.peer()), announced_size=0)
            digest = writer.finish()
            return blob_pb2.BlobRef(hash=digest, size=writer.size)
        except BlobError as e:
            if writer is not None:
                writer.abort()
            await context.abort(_status(e), str(e))

    async def GetBlob(self, request, context):  # noqa: N802
        blob_hash = bytes(request.hash)
        if len(blob_hash) != 32:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"a blob hash is 32 bytes, got {len(blob_hash)}"
            )
        if not self.store.has(blob_hash) and self.fetch_remote is not None:
            await self.fetch_remote(blob_hash)
        try:
            size = self.store.size(blob_hash)
            first = True
            for data in self.store.read_chunks(blob_hash, CHUNK):
                yield blob_pb2.BlobChunk(
                    hash=blob_hash if first else b"", size=size if first else 0, data=data
                )
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
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"a blob hash is 32 bytes, got {len(blob_hash)}"
            )
        if not self.store.has(blob_hash):
            return blob_pb2.BlobInfo(present=False)
        return blob_pb2.BlobInfo(
            present=True, size=self.store.size(blob_hash), pinned=self.store.is_pinned(blob_hash)
        )


def _status(e: BlobError) -> grpc.StatusCode:
    if isinstance(e, (BlobTooLarge, BlobQuotaExceeded)):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(e, BlobHashMismatch):
        return grpc.StatusCode.DATA_LOSS
    if isinstance(e, UploadStalled):
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.INVALID_ARGUMENT
