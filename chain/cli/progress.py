"""Progress of the workers' activities (training steps, replays) and their log lines, for a person or a file.

On a terminal, rich draws one live bar per activity (the roles of one process, e.g. the demo's, train and
replay side by side on threads) and prints log lines above the bars. Anywhere else (a pipe, a file, CI) the
output is plain lines, never a carriage return: an activity's first step, then at most one line every
`interval` seconds, then its end. rich was chosen over tqdm for the several concurrent bars of one process
and for printing log records above them without tearing; it is a maintained, pure-Python library.

`ProgressDisplay` is the `Progress` callable the roles take: `display(label, done, total)`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

PLAIN_INTERVAL_S = 5.0


class ProgressDisplay:
    """One bar (terminal) or a few plain lines (elsewhere) per activity label."""

    def __init__(self, stream: TextIO | None = None, interval: float = PLAIN_INTERVAL_S):
        self.stream = sys.stderr if stream is None else stream
        self.interval = interval
        self.console = Console(file=self.stream, highlight=False)
        self.terminal = self.console.is_terminal and not self.console.is_dumb_terminal
        self._lock = threading.Lock()
        self._bars: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._last_line: dict[str, float] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        with self._lock:
            if self.terminal:
                self._draw(label, done, total)
            else:
                self._line(label, done, total)

    def _draw(self, label: str, done: int, total: int) -> None:
        if self._bars is None:
            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._bars.start()
        task = self._tasks.get(label)
        if task is None:
            task = self._tasks[label] = self._bars.add_task(label, total=total)
        self._bars.update(task, completed=done, total=total)
        if done >= total:
            self._bars.remove_task(task)
            del self._tasks[label]
            if self._tasks:
                self._bars.refresh()  # redraw without the finished bar before the line goes above the others
            else:  # no bar left: clear the display until the next activity
                self._bars.stop()
                self._bars = None
            self.console.print(f"{label}: {done}/{total} done")

    def _line(self, label: str, done: int, total: int) -> None:
        now = time.monotonic()
        last = self._last_line.get(label)
        finished = done >= total
        if last is not None and not finished and now - last < self.interval:
            return
        self.stream.write(f"{label}: {done}/{total}{' done' if finished else ''}\n")
        self.stream.flush()
        if finished:
            self._last_line.pop(label, None)
        else:
            self._last_line[label] = now

    def echo(self, text: str) -> None:
        """A line of text, printed above the bars on a terminal."""
        with self._lock:
            if self.terminal:
                self.console.print(text, markup=False, soft_wrap=True)
            else:
                self.stream.write(text + "\n")
                self.stream.flush()

    def log_handler(self, fmt: str) -> logging.Handler:
        """A logging handler whose records go through `echo`, so they never tear a bar."""
        return _DisplayHandler(self, fmt)

    def close(self) -> None:
        with self._lock:
            if self._bars is not None:
                self._bars.stop()
                self._bars = None
            self._tasks.clear()


class _DisplayHandler(logging.Handler):
    def __init__(self, display: ProgressDisplay, fmt: str):
        super().__init__()
        self.display = display
        self.setFormatter(logging.Formatter(fmt))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.display.echo(self.format(record))
        except Exception:
            self.handleError(record)
