"""The peer addresses a node knows: configured bootnodes and addresses learned from peers' Status messages.

Learned addresses come from anyone who completed a handshake, so they are parsed at the edge (a `HOST:PORT`
with a valid port and a host that is an IP literal or a DNS name) and kept in a bounded table: when it is
full, the learned address that failed most often (then the oldest) makes room. Every address is dialled
with exponential backoff after a failure, so a table full of dead addresses costs a few dials a second, not
one per entry per second. Bootnodes are never evicted; their backoff is capped lower, since they are the
way back into the network.
"""

from __future__ import annotations

import ipaddress
import random
import re
import time
from dataclasses import dataclass

MAX_LEARNED_ADDRESSES = 256
MAX_ADDRESS_LEN = 255
BACKOFF_BASE = 1.0
MAX_BACKOFF = 300.0
MAX_BOOTNODE_BACKOFF = 10.0
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def parse_peer_address(text: str) -> str | None:
    """`text` as a canonical dialable `HOST:PORT`, or None if it is not one (garbage from a peer is dropped)."""
    if not text or len(text) > MAX_ADDRESS_LEN or not text.isascii():
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("[") and host.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]:{int(port)}"
        except ValueError:
            return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"{host.lower()}:{int(port)}" if _HOSTNAME.match(host) and not host.isdigit() else None
    if ip.is_unspecified or ip.is_multicast:
        return None
    return f"[{ip.compressed}]:{int(port)}" if ip.version == 6 else f"{ip.compressed}:{int(port)}"


def address_host(address: str) -> str | None:
    """The host part of a dialled `HOST:PORT` or of a gRPC peer string (`ipv4:1.2.3.4:5`, `ipv6:[::1]:5`)."""
    for prefix in ("ipv4:", "ipv6:"):
        if address.startswith(prefix):
            address = address[len(prefix) :]
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


@dataclass
class AddressEntry:
    address: str
    bootnode: bool
    added: float
    failures: int = 0
    next_dial: float = 0.0


class AddressBook:
    """Addresses to dial, bounded, each with its own backoff."""

    def __init__(self, bootnodes: list[str], max_learned: int = MAX_LEARNED_ADDRESSES):
        self.max_learned = max_learned
        self._entries: dict[str, AddressEntry] = {}
        for node in bootnodes:
            address = parse_peer_address(node) or node
            self._entries[address] = AddressEntry(address, True, time.monotonic())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, address: str) -> bool:
        return address in self._entries

    @property
    def bootnodes(self) -> list[str]:
        return [e.address for e in self._entries.values() if e.bootnode]

    def learn(self, text: str) -> bool:
        """Keep a peer-supplied address if it parses; true if it is new. A full table evicts the learned
        address that failed most (oldest first among equals); bootnodes stay."""
        address = parse_peer_address(text)
        if address is None or address in self._entries:
            return False
        learned = [e for e in self._entries.values() if not e.bootnode]
        if len(learned) >= self.max_learned:
            victim = max(learned, key=lambda e: (e.failures, -e.added))
            del self._entries[victim.address]
        self._entries[address] = AddressEntry(address, False, time.monotonic())
        return True

    def due(self, now: float, exclude: set[str]) -> list[str]:
        """Addresses whose backoff has passed, bootnodes first, fewest failures first."""
        ready = [e for e in self._entries.values() if e.next_dial <= now and e.address not in exclude]
        ready.sort(key=lambda e: (not e.bootnode, e.failures, e.address))
        return [e.address for e in ready]

    def dial_failed(self, address: str) -> None:
        entry = self._entries.get(address)
        if entry is None:
            return
        entry.failures += 1
        cap = MAX_BOOTNODE_BACKOFF if entry.bootnode else MAX_BACKOFF
        delay = min(cap, BACKOFF_BASE * 2 ** min(entry.failures, 16))
        entry.next_dial = time.monotonic() + delay * random.uniform(0.8, 1.2)

    def connected(self, address: str) -> None:
        """A dial (or a handshake announcing this address) worked: reset its backoff."""
        entry = self._entries.get(address)
        if entry is not None:
            entry.failures, entry.next_dial = 0, 0.0

    def dialled(self, address: str, retry_after: float) -> None:
        """Do not dial `address` again for `retry_after` seconds (a session ended; reconnect calmly)."""
        entry = self._entries.get(address)
        if entry is not None:
            entry.next_dial = max(entry.next_dial, time.monotonic() + retry_after)
