"""File descriptors: how many each listener may take, and a reserve kept for the node's own files.

A node's descriptors are shared by its database, consensus WAL and signer guard, blob files and every
connection on its listeners. A flood of idle connections must never starve the files consensus writes, so
each listener is capped at a share of RLIMIT_NOFILE (after `FILES_RESERVED` for the node's own files), and
a few descriptors are held open on /dev/null (`DescriptorReserve`) to be released when a write finds the
table full anyway (another process sharing the limit, or a leak).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import time

from chain.network.log_throttle import LogThrottle

log = logging.getLogger("gradchain.node")

FILES_RESERVED = 256  # LevelDB's table cache (see chain.storage.kv), WAL, guard, blobs, logs
P2P_SHARE = 0.4  # of the rest: the p2p listener
GRPC_SHARE = 0.2  # the gRPC API listener (JSON-RPC has its own --rpc-max-connections)
MIN_CONNECTIONS = 16
RESERVE_SIZE = 16
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE})


def descriptor_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 16 if soft == resource.RLIM_INFINITY else soft


def connection_cap(share: float) -> int:
    """The connections one listener may hold at once: `share` of what the node's own files leave over."""
    return max(MIN_CONNECTIONS, int((descriptor_limit() - FILES_RESERVED) * share))


ASYNCIO_ACCEPT_FAILED = "socket.accept() out of system resource"


def throttle_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Log the asyncio listeners' (JSON-RPC, metrics) failed accepts as one line per interval.

    When the descriptor table is full, asyncio's accept loop logs a traceback for every connection waiting in
    the listen backlog and retries each second (CPython 3.11 does not stop at the first failure), which is
    megabytes of log a second under a connection flood. gRPC's listeners back off and log once a second
    themselves. Every other error goes to the loop's default handler."""
    failures = LogThrottle()

    def handle(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        if context.get("message") != ASYNCIO_ACCEPT_FAILED:
            loop.default_exception_handler(context)
            return
        count = failures.due()
        if count:
            log.warning(
                "out of file descriptors: %d accept(s) failed (%s); the listener retries every second. "
                "Raise the limit (ulimit -n) or lower --rpc-max-connections",
                count,
                context.get("exception"),
            )

    loop.set_exception_handler(handle)


def out_of_descriptors(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in EXHAUSTED


class DescriptorReserve:
    """Descriptors held on /dev/null so that a write can still open its file when the table is full:
    `release()` frees them (the caller retries at once), `replenish()` takes them back when it can."""

    def __init__(self, size: int = RESERVE_SIZE):
        self.size = size
        self._fds: list[int] = []
        self._last_warning = 0.0
        self.replenish()

    def __len__(self) -> int:
        return len(self._fds)

    def replenish(self) -> None:
        while len(self._fds) < self.size:
            try:
                self._fds.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                return

    def release(self) -> bool:
        """Free the reserve; false if it was already spent (nothing freed)."""
        if not self._fds:
            return False
        now = time.monotonic()
        if now - self._last_warning > 10.0:
            self._last_warning = now
            log.warning(
                "out of file descriptors: releasing %d reserved ones for the node's own writes",
                len(self._fds),
            )
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
        return True

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()
