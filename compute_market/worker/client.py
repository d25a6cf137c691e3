"""How a worker reaches a node: gRPC only (ChainService, MarketService, BlobService), with reconnects.

A worker never imports the node. Every call goes through `MarketNode.retry`, which waits out a node that is
restarting (UNAVAILABLE) with a bounded backoff, so workers survive node restarts and carry on. A blob the
node (and its peers) does not hold is `BlobMissing`, which callers tell apart from a node they cannot reach.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import grpc

from chain.blob_client import BlobClient
from chain.blob_errors import BlobHashMismatch
from chain.client import ClientError, NodeClient
from chain.primitives.calls import ComputeMarket
from chain.primitives.crypto import Keypair
from proto import market_pb2, market_pb2_grpc

log = logging.getLogger("gradchain.worker")
T = TypeVar("T")


class BlobMissing(ClientError):
    """The node answered, but neither it nor its peers hold the blob (or the bytes it served are not it)."""


# The market's calls, from the builders generated out of the pallet's own declarations
# (chain/primitives/calls.py): no index or argument layout is typed here. Roles and the CLI name them here.
register_solver = ComputeMarket.register_solver
register_verifier = ComputeMarket.register_verifier
submit_job = ComputeMarket.submit_job
commit_result = ComputeMarket.commit_result
attest = ComputeMarket.attest
challenge = ComputeMarket.challenge
report_dataset = ComputeMarket.report_dataset
reveal = ComputeMarket.reveal
respond = ComputeMarket.respond
submit_step_state = ComputeMarket.submit_step_state
referee_vote = ComputeMarket.referee_vote
finalize = ComputeMarket.finalize


def challenge_artifact(job_id: int, kind: int, index: int, unavailable: bool = False) -> bytes:
    """Dispute an artifact: kind 0 checkpoint `index`, 1 the hash list, 2 the final model, 3 the evaluation
    (index 0 for the last three);
    `unavailable`: it could not be fetched (else: it was fetched and fails its check)."""
    return ComputeMarket.challenge_artifact(job_id, int(kind), index, unavailable)


class MarketNode:
    def __init__(self, address: str, keypair: Keypair | None = None):
        self.address = address
        self.keypair = keypair
        self.chain = NodeClient(address, timeout=30.0)
        self.market = market_pb2_grpc.MarketServiceStub(self.chain.channel)
        self.blobs = BlobClient(self.chain.channel)

    def close(self) -> None:
        self.chain.close()

    def retry(self, fn: Callable[[], T], what: str, attempts: int = 60) -> T:
        """Run `fn`, waiting out an unreachable node (a restart) for up to about a minute."""
        delay = 0.2
        for attempt in range(attempts):
            try:
                return fn()
            except grpc.RpcError as e:
                if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise ClientError(f"{what}: {e.code().name}: {e.details()}") from None
                error = e.details()
            except ClientError as e:
                if "unreachable" not in str(e):
                    raise
                error = str(e)
            if attempt == 0:
                log.warning("node %s unreachable (%s); reconnecting", self.address, error)
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        raise ClientError(f"{what}: node {self.address} stayed unreachable")

    # --- reads ------------------------------------------------------------------------------------------------

    def jobs(self) -> list[market_pb2.Job]:
        return list(
            self.retry(lambda: self.market.ListJobs(market_pb2.Empty(), timeout=30), "list jobs").jobs
        )

    def job(self, job_id: int) -> market_pb2.Job:
        return self.retry(
            lambda: self.market.GetJob(market_pb2.JobRequest(job_id=job_id), timeout=30), "get job"
        )

    def open_disputes(self) -> list[market_pb2.Dispute]:
        return self.open_disputes_at()[0]

    def open_disputes_at(self) -> tuple[list[market_pb2.Dispute], int]:
        """The open disputes and the chain time (ms) of the block they were read at."""
        reply = self.retry(
            lambda: self.market.ListOpenDisputes(market_pb2.Empty(), timeout=30), "list disputes"
        )
        return list(reply.disputes), reply.now_ms

    def disputes(self, job_id: int) -> list[market_pb2.Dispute]:
        return list(
            self.retry(
                lambda: self.market.ListDisputes(market_pb2.JobRequest(job_id=job_id), timeout=30),
                "list disputes",
            ).disputes
        )

    def head(self) -> int:
        return self.retry(lambda: self.chain.info().best_number, "chain info")

    def blob(self, blob_hash: bytes) -> bytes:
        """The blob's bytes; `BlobMissing` if the node and its peers do not have it."""
        what = f"fetch blob 0x{blob_hash.hex()[:16]}"

        def get() -> bytes:
            try:
                return self.blobs.get(blob_hash)
            except grpc.RpcError as e:
                if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.DATA_LOSS):
                    raise BlobMissing(f"{what}: {e.details()}") from None
                raise
            except BlobHashMismatch as e:
                raise BlobMissing(f"{what}: {e}") from None

        return self.retry(get, what)

    def put_blob(self, data: bytes) -> bytes:
        return self.retry(lambda: self.blobs.put(data), "upload blob")

    # --- writes -----------------------------------------------------------------------------------------------

    def send(self, call: bytes, what: str, wait: bool = False) -> bool:
        """Sign and submit a call; True when the pool took it (or, with `wait`, when it succeeded on chain)."""
        assert self.keypair is not None, "this worker has no key"
        try:
            raw = self.retry(lambda: self.chain.sign(self.keypair, call), f"sign {what}")
            if not wait:
                self.retry(lambda: self.chain.submit(raw), f"submit {what}")
                return True
            status = self.retry(lambda: self.chain.submit_and_watch(raw), f"submit {what}")
        except ClientError as e:
            log.warning("%s rejected: %s", what, e)
            return False
        if not status.success:
            log.warning("%s failed on chain: %s", what, status.reason or "invalid")
        return bool(status.success)
