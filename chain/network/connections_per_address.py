"""Per-address caps on a grpc.aio listener's TCP connections, which gRPC's C core cannot enforce itself.

gRPC accepts a connection without telling Python, and Python has no handle to close it with. The kernel's
socket table can tell instead: on Linux, /proc/net/tcp and /proc/net/tcp6 list every TCP socket with its
local and remote address and inode, and /proc/self/fd maps inodes to this process's descriptors.
`ConnectionsPerAddress` sweeps the table every `interval` seconds. For each remote host holding more than
`max_per_host` connections to the listener's port, it keeps the ones it saw first and shuts the rest down:
`shutdown(2)` on a duplicate of gRPC's own descriptor, so gRPC reads the end of stream and closes it, and
the connection's calls fail as if its client had gone. A host over its cap can thus hold at most its cap,
plus what it opens within one interval, and never for longer than that.

Where there is no /proc (not Linux) the sweep logs once that only the listener's total cap applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import defaultdict

from chain.network.log_throttle import LogThrottle

log = logging.getLogger("gradchain.network")

TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
LISTEN = "0A"
SWEEP_SECONDS = 1.0
V4_MAPPED = b"\0" * 10 + b"\xff\xff"


def host_of(hex_address: str) -> str:
    """The address part of a /proc/net/tcp{,6} `ADDR:PORT` field, as text ("127.0.0.1", "::1"); an IPv4
    address mapped into IPv6 reads as the IPv4 one, as a dual-stack listener's remote would."""
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    native = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))  # four host-order 32-bit words
    if native.startswith(V4_MAPPED):
        return socket.inet_ntop(socket.AF_INET, native[12:])
    return socket.inet_ntop(socket.AF_INET6, native)


def connections_to(port: int, tables: tuple[str, ...] = TCP_TABLES) -> list[tuple[int, str]]:
    """(inode, remote host) of every accepted TCP connection whose local port is `port`; the listening
    socket itself and connections not yet accepted (inode 0) left out."""
    suffix = f":{port:04X}"
    found = []
    for table in tables:
        try:
            with open(table) as f:
                next(f, None)  # the header
                for line in f:
                    fields = line.split()
                    if len(fields) < 10 or not fields[1].endswith(suffix) or fields[3] == LISTEN:
                        continue
                    inode = int(fields[9])
                    if inode:
                        found.append((inode, host_of(fields[2].rsplit(":", 1)[0])))
        except FileNotFoundError:
            continue
    return found


def own_socket_descriptors() -> dict[int, int]:
    """inode -> descriptor for each socket this process has open."""
    sockets = {}
    with os.scandir("/proc/self/fd") as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                target = os.readlink(entry.path)
                if target.startswith("socket:["):
                    sockets[int(target[8:-1])] = int(entry.name)
    return sockets


def shut_down(fd: int, inode: int) -> bool:
    """Shut down the socket on `fd` if it still is the one with `inode` (a descriptor number can be reused
    between reading the table and acting on it; the duplicate pins the socket while it is checked)."""
    try:
        dup = os.dup(fd)
    except OSError:
        return False
    try:
        if os.fstat(dup).st_ino != inode:
            return False
        with socket.socket(fileno=os.dup(dup)) as s:
            s.shutdown(socket.SHUT_RDWR)
        return True
    except OSError:
        return False
    finally:
        os.close(dup)


class ConnectionsPerAddress:
    """Keeps each remote host at most `max_per_host` TCP connections to one local port (see the module
    docstring); `start(port)` begins sweeping on the running loop, `stop()` ends it."""

    def __init__(self, max_per_host: int, listener: str, interval: float = SWEEP_SECONDS):
        self.max_per_host, self.listener, self.interval = max_per_host, listener, interval
        self.port: int | None = None
        self.closed = 0
        self._first_seen: dict[int, int] = {}
        self._sweeps = 0
        self._task: asyncio.Task | None = None
        self._closures = LogThrottle()

    @staticmethod
    def available() -> bool:
        return os.path.exists(TCP_TABLES[0]) and os.path.isdir("/proc/self/fd")

    def start(self, port: int) -> None:
        self.port = port
        if not self.available():
            log.warning(
                "%s: no /proc socket table here, so connections per address are not capped; the listener's "
                "total cap still holds",
                self.listener,
            )
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                self.sweep()
            except OSError as e:  # out of descriptors for the table itself: the next sweep tries again
                log.debug("%s: connection sweep failed: %s", self.listener, e)
            await asyncio.sleep(self.interval)

    def over_cap(self) -> list[tuple[int, str]]:
        """(inode, host) of the connections past their host's cap, the latest seen first to go."""
        assert self.port is not None
        self._sweeps += 1
        connections = connections_to(self.port)
        first_seen = {inode: self._first_seen.get(inode, self._sweeps) for inode, _ in connections}
        self._first_seen = first_seen
        by_host: dict[str, list[int]] = defaultdict(list)
        for inode, host in connections:
            by_host[host].append(inode)
        excess = []
        for host, inodes in by_host.items():
            if len(inodes) > self.max_per_host:
                inodes.sort(key=lambda inode: (first_seen[inode], inode))  # inodes grow: a tie goes by age
                excess.extend((inode, host) for inode in inodes[self.max_per_host :])
        return excess

    def sweep(self) -> int:
        """Shut down the connections over their host's cap; how many were."""
        excess = self.over_cap()
        if not excess:
            return 0
        descriptors = own_socket_descriptors()
        closed = 0
        for inode, _host in excess:
            fd = descriptors.get(inode)
            if fd is not None and shut_down(fd, inode):
                closed += 1
                self._first_seen.pop(inode, None)
        self.closed += closed
        if closed and self._closures.due():  # at most one line per interval, with the running total
            log.warning(
                "%s has closed %d connection(s) over %d per address (last from %s)",
                self.listener,
                self.closed,
                self.max_per_host,
                excess[-1][1],
            )
        return closed
