"""Log lines that an attacker can trigger at will (refused connections, failed accepts) at a bounded rate."""

from __future__ import annotations

import time

DEFAULT_INTERVAL = 10.0


class LogThrottle:
    """Counts events of one kind and says when a log line about them is due: at most one per `interval`."""

    def __init__(self, interval: float = DEFAULT_INTERVAL):
        self.interval = interval
        self.total = 0
        self._unlogged = 0
        self._logged_at = float("-inf")

    def due(self) -> int:
        """Count one event; the events since the last line (this one included) if a line is due now, else 0."""
        self.total += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._logged_at < self.interval:
            return 0
        count, self._unlogged, self._logged_at = self._unlogged, 0, now
        return count
