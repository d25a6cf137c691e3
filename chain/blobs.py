"""Content-addressed blob store: datasets, checkpoints and models, named by their blake2-256 hash.

Blobs are files under `<base>/blobs/<hh>/<hash>`; a write goes to a temporary file that is renamed only
after its hash has been checked, so a blob on disk is always whole and correct. Blobs referenced by a live
job are pinned and never garbage-collected; an unpinned blob is removed once it has been unpinned (or, if it
never was pinned, stored) for longer than the node's retention, so an upload waiting for its job and the
final model of an ended job both stay fetchable for that long. Every size is capped.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path

DEFAULT_MAX_BLOB_BYTES = 256 * 1024 * 1024
CHUNK_BYTES = 1024 * 1024


class BlobError(ValueError):
    """A blob that is missing, too large, or whose bytes do not match its hash."""


class BlobNotFound(BlobError):
    pass


class BlobHashMismatch(BlobError):
    pass


class BlobTooLarge(BlobError):
    pass


class BlobStore:
    def __init__(self, root: Path, max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_blob_bytes = max_blob_bytes
        self._pins: dict[bytes, int] = {}

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

    def writer(self, expected_hash: bytes | None = None) -> BlobWriter:
        return BlobWriter(self, expected_hash)

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
            except (ValueError, OSError):
                continue
            path.unlink(missing_ok=True)
            removed += 1
        return removed


class BlobWriter:
    """Streams a blob to a temporary file; `finish` checks size and hash, then moves it into place."""

    def __init__(self, store: BlobStore, expected_hash: bytes | None):
        if expected_hash is not None and len(expected_hash) != 32:
            raise BlobError(f"a blob hash is 32 bytes, got {len(expected_hash)}")
        self.store, self.expected_hash = store, expected_hash
        self.size = 0
        self._hasher = hashlib.blake2b(digest_size=32)
        fd, self._tmp = tempfile.mkstemp(dir=store.root, prefix=".upload-")
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.store.max_blob_bytes:
            self.abort()
            raise BlobTooLarge(f"blob exceeds the cap of {self.store.max_blob_bytes} bytes")
        self._hasher.update(data)
        self._file.write(data)

    def finish(self) -> bytes:
        self._file.close()
        digest = self._hasher.digest()
        if self.expected_hash is not None and digest != self.expected_hash:
            os.unlink(self._tmp)
            raise BlobHashMismatch(f"uploaded bytes hash to 0x{digest.hex()}, not the announced "
                                   f"0x{self.expected_hash.hex()}")
        target = self.store._path(digest)
        target.parent.mkdir(exist_ok=True)
        os.replace(self._tmp, target)
        return digest

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)
