"""The content-addressed blob store: hashes checked, whole-or-nothing writes, caps, pins."""

import pytest

from chain.blobs import (
    BlobHashMismatch,
    BlobNotFound,
    BlobQuotaExceeded,
    BlobSizeMismatch,
    BlobStore,
    BlobTooLarge,
)
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
    old_upload, fresh_upload, released = (
        store.put(b"old upload"),
        store.put(b"fresh upload"),
        store.put(b"released"),
    )
    store.set_pins({released})
    day_ago = time.time() - 86_400
    for h in (old_upload, released):
        os.utime(store._path(h), (day_ago, day_ago))
    store.set_pins(set())  # `released` leaves the pins now: its retention starts now, not at its upload
    assert store.remove_unpinned(older_than=3_600) == 1
    assert not store.has(old_upload) and store.has(fresh_upload) and store.has(released)
    assert store.remove_unpinned(older_than=3_600, now=time.time() + 7_200) == 2


def test_invalid_upload_over_the_total_quota_is_refused_and_keeps_nothing(tmp_path):
    store = BlobStore(tmp_path, max_total_bytes=100)
    kept = store.put(b"a" * 60)
    with pytest.raises(BlobQuotaExceeded, match="blob store is full"):
        store.put(b"b" * 60)
    assert store.has(kept) and store.stored_bytes == 60 and not list(tmp_path.glob(".upload-*"))
    assert store.remove_unpinned() == 1 and store.stored_bytes == 0
    store.put(b"b" * 60)  # space freed by clean-up is usable again


def test_total_quota_counts_what_is_on_disk_at_start(tmp_path):
    BlobStore(tmp_path).put(b"a" * 60)
    with pytest.raises(BlobQuotaExceeded):
        BlobStore(tmp_path, max_total_bytes=100).put(b"b" * 60)


def test_invalid_upload_over_the_uploader_quota_is_refused_while_others_still_store(tmp_path):
    store = BlobStore(tmp_path, max_uploader_bytes=100)
    first = store.writer(uploader="10.0.0.1", announced_size=60)
    first.write(b"a" * 60)
    first.finish()
    with pytest.raises(BlobQuotaExceeded, match="10.0.0.1"):
        store.writer(uploader="10.0.0.1", announced_size=60)  # refused before a byte is sent
    concurrent = store.writer(uploader="10.0.0.1")
    with pytest.raises(BlobQuotaExceeded):
        concurrent.write(b"c" * 41)
    other = store.writer(uploader="10.0.0.2", announced_size=60)
    other.write(b"b" * 60)
    other.finish()
    assert store.uploader_bytes("10.0.0.1") == 60 and not list(tmp_path.glob(".upload-*"))


@pytest.mark.parametrize("sent", [b"x" * 9, b"x" * 11])
def test_invalid_upload_that_differs_from_its_announced_size_keeps_nothing(tmp_path, sent):
    store = BlobStore(tmp_path)
    writer = store.writer(announced_size=10)
    with pytest.raises(BlobSizeMismatch, match="announced 10 bytes"):
        writer.write(sent)
        writer.finish()
    assert not store.has(blake2_256(sent)) and not list(tmp_path.glob(".upload-*"))
    assert store.stored_bytes == 0 and store.uploader_bytes("anyone") == 0
