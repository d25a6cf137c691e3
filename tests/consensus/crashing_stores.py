"""The consensus stores as the simulator crashes them: in memory, calling a `fault(label)` hook before each
write, which may raise `SimulatedCrash` to stop a validator at that write point. A crash during an append
keeps `partial` bytes of it (a torn tail, as a power cut leaves); an atomic replace leaves the old value or
log whole."""

from __future__ import annotations

from collections.abc import Callable

from consensus.storage import MemoryLog, MemoryValue

FaultHook = Callable[[str], None]


class SimulatedCrash(Exception):
    """Raised by a fault hook to stop a validator mid-write; `partial` bytes of the append still land."""

    def __init__(self, label: str, partial: int = 0):
        super().__init__(f"simulated crash at {label}")
        self.label = label
        self.partial = partial


class CrashingValue(MemoryValue):
    def __init__(self, fault: FaultHook | None = None, label: str = "guard"):
        super().__init__()
        self.fault, self.label = fault, label

    def store(self, data: bytes) -> None:
        if self.fault is not None:
            self.fault(self.label)  # atomic rename: a crash leaves the old value whole
        super().store(data)


class CrashingLog(MemoryLog):
    def __init__(self, fault: FaultHook | None = None, label: str = "wal"):
        super().__init__()
        self.fault, self.label = fault, label

    def append(self, data: bytes, sync: bool = True) -> None:
        if self.fault is not None:
            try:
                self.fault(self.label)
            except SimulatedCrash as crash:
                self.data += data[: crash.partial]
                raise
        super().append(data, sync)

    def replace(self, data: bytes) -> None:
        if self.fault is not None:
            self.fault(self.label)  # atomic rename: a crash leaves the old log whole
        super().replace(data)
