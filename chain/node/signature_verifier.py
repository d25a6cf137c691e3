"""Signature verification on worker threads, ahead of the transaction pool.

The pool checks every transaction on the event loop, and an Ed25519 verification is most of that check's
CPU time. libsodium releases the GIL while it verifies, so a few threads can verify a received batch in
parallel with each other and with the loop. They verify through the runtime's `verified_signature`, whose
cache keeps only successes; the pool's check of each transaction, which follows on the loop as before,
then finds its signature there. A bad signature is not cached, so the pool refuses it with the same
`BadProof` as without the threads: validity never depends on them, only where the CPU time is spent.

Bounded: a caller awaits its batch, split into one chunk per thread, so the executor's queue holds at most
one batch's chunks per awaiting caller (the peer loops, one per peer, with batches of at most
`MAX_BATCH_TRANSACTIONS`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from runtime.executive import SignatureCheck


def _verify_all(checks: Sequence[SignatureCheck]) -> None:
    for check in checks:
        check.verified()


class SignatureVerifier:
    """`threads` worker threads that verify batches of signatures into the runtime's signature cache; with
    0 threads it does nothing, and the pool verifies each signature on the event loop."""

    def __init__(self, threads: int):
        self.threads = threads
        self._executor = (
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="signature-verifier")
            if threads
            else None
        )

    async def verify(self, checks: list[SignatureCheck]) -> None:
        """Verify `checks` on the threads and return once all are done; the successes are then cached."""
        if self._executor is None or not checks:
            return
        loop = asyncio.get_running_loop()
        chunks = [checks[i :: self.threads] for i in range(min(self.threads, len(checks)))]
        await asyncio.gather(*(loop.run_in_executor(self._executor, _verify_all, chunk) for chunk in chunks))

    def close(self) -> None:
        """Stop the threads; chunks not yet started are dropped, and their callers' awaits are cancelled."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
