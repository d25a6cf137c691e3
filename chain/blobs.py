"""Content-addressed blob store: datasets, checkpoints and models, named by their blake2-256 hash.

Blobs are files under `<base>/blobs/<hh>/<hash>`; a write goes to a temporary file that is renamed only
after its hash has been checked, so a blob on disk is always whole and correct. Blobs referenced by a live
job are pinned and never garbage-collected; an unpinned blob is removed once it has been unpinned (or, if it
never was pinned, stored) for longer than the node's retention, so an upload waiting for its job and the
final model of an ended job both stay fetchable for that long. Every size is capped.

Quotas: the store as a whole holds at most `max_total_bytes`, and one uploader at most `max_uploader_bytes`
of the blobs still stored. Bytes are reserved as they arrive (the whole announced size at once, when the
upload announces one), so concurrent uploads cannot overrun either quota together; a refused or aborted
upload keeps nothing. Uploads are unauthenticated, so the gRPC service names the uploader by its peer's
IP address. The total is measured from the disk at start; what each uploader stored is known only since
the node started (after a restart, earlier uploads count against the total but against no uploader).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path

from chain.blob_errors import (  # re-exported: the store raises them, the API maps them to gRPC codes
    BlobError,
    BlobHashMismatch,
    BlobNotFound,
    BlobQuotaExceeded,
    BlobSizeMismatch,
    BlobTooLarge,
)

DEFAULT_MAX_BLOB_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_TOTAL_BYTES = 16 * 1024 * 1024 * 1024
DEFAULT_MAX_UPLOADER_BYTES = 2 * 1024 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024

__all__ = [
    "BlobError",
    "BlobHashMismatch",
    "BlobNotFound",
    "BlobQuotaExceeded",
    "BlobSizeMismatch",
    "BlobStore",
    "BlobTooLarge",
    "BlobWriter",
]


class BlobStore:
    def __init__(
        self,
        root: Path,
        max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        max_uploader_bytes: int = DEFAULT_MAX_UPLOADER_BYTES,
    ):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_blob_bytes = max_blob_bytes
        self.max_total_bytes, self.max_uploader_bytes = max_total_bytes, max_uploader_bytes
        self._pins: dict[bytes, int] = {}
        self.stored_bytes = sum(path.stat().st_size for path in self._blob_files())
        self._reserved: dict[str | None, int] = {}  # bytes of uploads in flight, per uploader
        self._uploaded: dict[str, dict[bytes, int]] = {}  # per uploader: the blobs it stored, and their sizes

    def _blob_files(self):
        for path in self.root.glob("??/*"):
            if len(path.name) == 64 and path.is_file():
                yield path

    def uploader_bytes(self, uploader: str) -> int:
        """What `uploader` stored that is still here, and what it is uploading now."""
        return sum(self._uploaded.get(uploader, {}).values()) + self._reserved.get(uploader, 0)

    def _reserve(self, uploader: str | None, size: int) -> None:
        used = self.stored_bytes + sum(self._reserved.values())
        if used + size > self.max_total_bytes:
            raise BlobQuotaExceeded(
                f"the blob store is full: {used} of its {self.max_total_bytes} bytes are "
                f"used, {size} more do not fit"
            )
        if uploader is not None and self.uploader_bytes(uploader) + size > self.max_uploader_bytes:
            raise BlobQuotaExceeded(
                f"uploader {uploader} stores {self.uploader_bytes(uploader)} bytes; "
                f"{size} more would pass its quota of {self.max_uploader_bytes}"
            )
        self._reserved[uploader] = self._reserved.get(uploader, 0) + size

    def _release(self, uploader: str | None, size: int) -> None:
        left = self._reserved.get(uploader, 0) - size
        if left > 0:
            self._reserved[uploader] = left
        else:
            self._reserved.pop(uploader, None)

    def _stored(self, uploader: str | None, blob_hash: bytes, size: int) -> None:
        self.stored_bytes += size
        if uploader is not None:
            self._uploaded.setdefault(uploader, {})[blob_hash] = size

    def _removed(self, blob_hash: bytes, size: int) -> None:
        self.stored_bytes -= size
        for uploader, blobs in list(self._uploaded.items()):
            if blobs.pop(blob_hash, None) is not None and not blobs:
                del self._uploaded[uploader]

    def _path(self, blob_hash: bytes) -> Path:
        if len(blob_hash) != 32:
            raise BlobError(f"a blob hash is 32 bytes, got {len(blob_hash)}")
        h = blob_hash.hex()
        return self.root / h[:2] / h

    def has(self, blob_hash: bytes) -> bool:
        return self._path(blob_hash).is_file()

    def size(self, blob_hash: bytes) -> int:
        try:
            return self._path(blob_hash).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(f"blob 0x{blob_hash.hex()} is not stored here") from None

    def put(self, data: bytes, expected_hash: bytes | None = None) -> bytes:
        writer = self.writer(expected_hash)
        writer.write(data)
        return writer.finish()

    def writer(
        self,
        expected_hash: bytes | None = None,
        *,
        uploader: str | None = None,
        announced_size: int | None = None,
    ) -> BlobWriter:
        """A writer for one blob; with `announced_size`, that many bytes exactly, reserved now."""
        return BlobWriter(self, expected_hash, uploader, announced_size)

    def get(self, blob_hash: bytes) -> bytes:
        """Read a whole blob, verifying its hash (a corrupted file is reported, never served)."""
        return b"".join(self.read_chunks(blob_hash))

    def read_chunks(self, blob_hash: bytes, chunk: int = CHUNK_BYTES):
        path = self._path(blob_hash)
        hasher = hashlib.blake2b(digest_size=32)
        try:
            f = path.open("rb")
        except FileNotFoundError:
            raise BlobNotFound(f"blob 0x{blob_hash.hex()} is not stored here") from None
        with f:
            while data := f.read(chunk):
                hasher.update(data)
                if f.tell() == path.stat().st_size and hasher.digest() != blob_hash:
                    raise BlobHashMismatch(f"stored blob 0x{blob_hash.hex()} is corrupted")
                yield data
        if path.stat().st_size == 0 and hasher.digest() != blob_hash:
            raise BlobHashMismatch(f"stored blob 0x{blob_hash.hex()} is corrupted")

    def pin(self, blob_hash: bytes) -> None:
        self._pins[blob_hash] = self._pins.get(blob_hash, 0) + 1

    def unpin(self, blob_hash: bytes) -> None:
        left = self._pins.get(blob_hash, 0) - 1
        if left > 0:
            self._pins[blob_hash] = left
        else:
            self._pins.pop(blob_hash, None)

    def is_pinned(self, blob_hash: bytes) -> bool:
        return blob_hash in self._pins

    def set_pins(self, hashes: set[bytes]) -> None:
        """Replace the pinned set (the node derives it from the market's live jobs after each block). A blob
        that leaves the set has its retention restarted (its file's mtime set to now)."""
        for released in set(self._pins) - set(hashes):
            with contextlib.suppress(OSError):
                os.utime(self._path(released))
        self._pins = {h: 1 for h in hashes}

    def remove_unpinned(self, older_than: float = 0.0, now: float | None = None) -> int:
        """Delete unpinned blobs stored or released more than `older_than` seconds ago; returns the count."""
        cutoff = (time.time() if now is None else now) - older_than
        removed = 0
        for path in self.root.glob("??/*"):
            try:
                blob_hash = bytes.fromhex(path.name)
                if len(blob_hash) != 32 or blob_hash in self._pins or path.stat().st_mtime > cutoff:
                    continue
                size = path.stat().st_size
            except (ValueError, OSError):
                continue
            path.unlink(missing_ok=True)
            self._removed(blob_hash, size)
            removed += 1
        return removed


class BlobWriter:
    """Streams a blob to a temporary file; `finish` checks size and hash, then moves it into place. The bytes
    it holds stay reserved against the store's quotas until it finishes or aborts."""

    def __init__(
        self,
        store: BlobStore,
        expected_hash: bytes | None,
        uploader: str | None = None,
        announced_size: int | None = None,
    ):
        if expected_hash is not None and len(expected_hash) != 32:
            raise BlobError(f"a blob hash is 32 bytes, got {len(expected_hash)}")
        if announced_size is not None and announced_size > store.max_blob_bytes:
            raise BlobTooLarge(f"blob of {announced_size} bytes exceeds the cap of {store.max_blob_bytes}")
        self.store, self.expected_hash = store, expected_hash
        self.uploader, self.announced_size = uploader, announced_size
        self.size = 0
        self.reserved = 0
        if announced_size:
            store._reserve(uploader, announced_size)
            self.reserved = announced_size
        self._hasher = hashlib.blake2b(digest_size=32)
        fd, self._tmp = tempfile.mkstemp(dir=store.root, prefix=".upload-")
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        size = self.size + len(data)
        try:
            if size > self.store.max_blob_bytes:
                raise BlobTooLarge(f"blob exceeds the cap of {self.store.max_blob_bytes} bytes")
            if self.announced_size is not None and size > self.announced_size:
                raise BlobSizeMismatch(f"the upload announced {self.announced_size} bytes but carries more")
            if size > self.reserved:
                self.store._reserve(self.uploader, size - self.reserved)
                self.reserved = size
        except BlobError:
            self.abort()
            raise
        self.size = size
        self._hasher.update(data)
        self._file.write(data)

    def finish(self) -> bytes:
        self._file.close()
        digest = self._hasher.digest()
        try:
            if self.announced_size is not None and self.size != self.announced_size:
                raise BlobSizeMismatch(
                    f"the upload announced {self.announced_size} bytes but carried only {self.size}"
                )
            if self.expected_hash is not None and digest != self.expected_hash:
                raise BlobHashMismatch(
                    f"uploaded bytes hash to 0x{digest.hex()}, not the announced 0x{self.expected_hash.hex()}"
                )
        except BlobError:
            self.abort()
            raise
        target = self.store._path(digest)
        target.parent.mkdir(exist_ok=True)
        is_new = not target.is_file()
        os.replace(self._tmp, target)
        self._unreserve()
        if is_new:
            self.store._stored(self.uploader, digest, self.size)
        return digest

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)
        self._unreserve()

    def _unreserve(self) -> None:
        self.store._release(self.uploader, self.reserved)
        self.reserved = 0
