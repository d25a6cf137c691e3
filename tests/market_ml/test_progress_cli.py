"""Worker progress without a terminal: plain lines, never a carriage return, throttled per activity."""

from __future__ import annotations

import io
import logging

from chain.cli.progress import ProgressDisplay


def test_progress_without_a_tty_is_plain_lines():
    out = io.StringIO()
    display = ProgressDisplay(out, interval=3600.0)
    assert not display.terminal
    for step in range(1, 101):
        display("solver: train job 1", step, 100)
    display("verifier: replay job 1 segment 0", 5, 10)
    display.echo("a log line")
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text.splitlines() == [
        "solver: train job 1: 1/100",
        "solver: train job 1: 100/100 done",
        "verifier: replay job 1 segment 0: 5/10",
        "a log line",
    ]


def test_log_records_go_through_the_display():
    out = io.StringIO()
    display = ProgressDisplay(out)
    logger = logging.getLogger("gradchain.test.progress")
    logger.propagate = False
    logger.addHandler(display.log_handler("%(levelname)s %(message)s"))
    logger.warning("solver: job %d step %d: training loss %.4f", 1, 20, 0.5)
    assert out.getvalue() == "WARNING solver: job 1 step 20: training loss 0.5000\n"
