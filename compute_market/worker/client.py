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

from chain.api.blob_service import BlobClient
from chain.blobs import BlobHashMismatch
from chain.client import ClientError, NodeClient
from chain.primitives.codec import encode_bytes, encode_compact, encode_vec, u8, u32, u64
from chain.primitives.crypto import Keypair
from proto import market_pb2, market_pb2_grpc

log = logging.getLogger("gradchain.worker")
T = TypeVar("T")

MARKET_PALLET = 6
CALL = {"register_solver": 0, "add_stake": 1, "unregister_solver": 2, "withdraw_unbonded": 3,
        "register_verifier": 4, "submit_job": 5, "cancel_job": 6, "commit_result": 7, "attest": 8,
        "challenge": 9, "reveal": 10, "respond": 11, "submit_step_state": 12, "referee_vote": 13, "finalize": 14,
        "challenge_artifact": 15, "report_dataset": 16}


class BlobMissing(ClientError):
    """The node answered, but neither it nor its peers hold the blob (or the bytes it served are not it)."""


def market_call(name: str, args: bytes = b"") -> bytes:
    return bytes([MARKET_PALLET, CALL[name]]) + args


def register_solver(stake: int) -> bytes:
    return market_call("register_solver", encode_compact(stake))


def register_verifier() -> bytes:
    return market_call("register_verifier")


def submit_job(spec: bytes, payment: int) -> bytes:
    return market_call("submit_job", encode_bytes(spec) + encode_compact(payment))


def commit_result(job_id: int, root: bytes, final_hash: bytes, hash_list: bytes, checkpoints: list[bytes]) -> bytes:
    return market_call("commit_result", u64(job_id) + root + final_hash + hash_list + encode_vec(checkpoints, bytes))


def attest(job_id: int, results: list[tuple[int, bool]]) -> bytes:
    return market_call("attest", u64(job_id) + encode_vec(results, lambda r: u32(r[0]) + bytes([r[1]])))


def challenge(job_id: int, segment: int) -> bytes:
    return market_call("challenge", u64(job_id) + u32(segment))


def challenge_artifact(job_id: int, kind: int, index: int, unavailable: bool = False) -> bytes:
    """Dispute an artifact: kind 0 checkpoint `index`, 1 the hash list, 2 the final model (index 0);
    `unavailable`: it could not be fetched (else: it was fetched and fails its check)."""
    return market_call("challenge_artifact", u64(job_id) + u8(kind) + u32(index) + bytes([unavailable]))


def report_dataset(job_id: int) -> bytes:
    return market_call("report_dataset", u64(job_id))


def reveal(dispute_id: int, step_hash: bytes, proof: list[bytes]) -> bytes:
    return market_call("reveal", u64(dispute_id) + step_hash + encode_vec(proof, bytes))


def respond(dispute_id: int, agree: bool) -> bytes:
    return market_call("respond", u64(dispute_id) + bytes([agree]))


def submit_step_state(dispute_id: int, blob: bytes, state_hash: bytes) -> bytes:
    return market_call("submit_step_state", u64(dispute_id) + blob + state_hash)


def referee_vote(dispute_id: int, claimed: bytes) -> bytes:
    return market_call("referee_vote", u64(dispute_id) + claimed)


def finalize(job_id: int) -> bytes:
    return market_call("finalize", u64(job_id))


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
        return list(self.retry(lambda: self.market.ListJobs(market_pb2.Empty(), timeout=30), "list jobs").jobs)

    def job(self, job_id: int) -> market_pb2.Job:
        return self.retry(lambda: self.market.GetJob(market_pb2.JobRequest(job_id=job_id), timeout=30), "get job")

    def open_disputes(self) -> list[market_pb2.Dispute]:
        return self.open_disputes_at()[0]

    def open_disputes_at(self) -> tuple[list[market_pb2.Dispute], int]:
        """The open disputes and the chain time (ms) of the block they were read at."""
        reply = self.retry(lambda: self.market.ListOpenDisputes(market_pb2.Empty(), timeout=30), "list disputes")
        return list(reply.disputes), reply.now_ms

    def disputes(self, job_id: int) -> list[market_pb2.Dispute]:
        return list(self.retry(lambda: self.market.ListDisputes(market_pb2.JobRequest(job_id=job_id), timeout=30),
                               "list disputes").disputes)

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
