"""The content-addressed blob store: hashes checked, whole-or-nothing writes, caps, pins."""

import pytest

from chain.blobs import BlobHashMismatch, BlobNotFound, BlobStore, BlobTooLarge
from chain.primitives.hashing import blake2_256


def test_put_get_round_trip(tmp_path):
    store = BlobStore(tmp_path)
    h = store.put(b"hello" * 1000)
    assert h == blake2_256(b"hello" * 1000) and store.get(h) == b"hello" * 1000 and store.size(h) == 5000


def test_invalid_hash_mismatch_leaves_nothing(tmp_path):
    store = BlobStore(tmp_path)
    with pytest.raises(BlobHashMismatch):
        store.put(b"data", expected_hash=blake2_256(b"other"))
    assert not store.has(blake2_256(b"data")) and not list(tmp_path.glob(".upload-*"))


def test_invalid_oversized_blob_refused(tmp_path):
    store = BlobStore(tmp_path, max_blob_bytes=10)
    with pytest.raises(BlobTooLarge):
        store.put(b"x" * 11)
    assert not list(tmp_path.glob(".upload-*"))


def test_invalid_corrupted_file_is_never_served(tmp_path):
    store = BlobStore(tmp_path)
    h = store.put(b"precious bytes")
    path = tmp_path / h.hex()[:2] / h.hex()
    path.write_bytes(b"precious bytez")
    with pytest.raises(BlobHashMismatch):
        store.get(h)
    with pytest.raises(BlobNotFound):
        store.get(blake2_256(b"absent"))


def test_pinned_blobs_survive_clean_up(tmp_path):
    store = BlobStore(tmp_path)
    keep, drop = store.put(b"keep"), store.put(b"drop")
    store.set_pins({keep})
    assert store.remove_unpinned() == 1
    assert store.has(keep) and not store.has(drop)


def test_unpinned_blobs_are_kept_for_the_retention_counted_from_release(tmp_path):
    import os
    import time
    store = BlobStore(tmp_path)
    old_upload, fresh_upload, released = store.put(b"old upload"), store.put(b"fresh upload"), store.put(b"released")
    store.set_pins({released})
    day_ago = time.time() - 86_400
    for h in (old_upload, released):
        os.utime(store._path(h), (day_ago, day_ago))
    store.set_pins(set())  # `released` leaves the pins now: its retention starts now, not at its upload
    assert store.remove_unpinned(older_than=3_600) == 1
    assert not store.has(old_upload) and store.has(fresh_upload) and store.has(released)
    assert store.remove_unpinned(older_than=3_600, now=time.time() + 7_200) == 2
