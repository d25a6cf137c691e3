"""What can go wrong with a blob, for both sides: the node's store (chain.blobs) raises these, and the clients
(chain.blob_client, the market workers) raise `BlobHashMismatch` for a download that does not hash to its name,
without importing the server-side store."""

from __future__ import annotations


class BlobError(ValueError):
    """A blob that is missing, too large, or whose bytes do not match its hash."""


class BlobNotFound(BlobError):
    pass


class BlobHashMismatch(BlobError):
    pass


class BlobTooLarge(BlobError):
    pass


class BlobQuotaExceeded(BlobError):
    """Storing the blob would take the store, or its uploader, over its quota."""


class BlobSizeMismatch(BlobError):
    """The upload carried more or fewer bytes than it announced."""
