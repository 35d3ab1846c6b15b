"""What the commands share: argparse value types (a bad value is a one-line usage error naming the option),

    p.add_argument("--epochs", type=positive_int)      # 0 or -1: "argument --epochs: 0 is not a positive integer"

and SIGTERM taken as ctrl-C by the commands that train (:func:`sigterm_as_interrupt`).
"""
from __future__ import annotations

import argparse
import contextlib
import signal


def positive_int(text: str) -> int:
    """An integer of at least 1 (counts, sizes, epochs)."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer of at least 0 (worker processes: 0 loads in the main process)."""
    return _int_at_least(text, 0, "an integer of 0 or more")


def _int_at_least(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM (``kill PID``: how a background job is stopped, as it ignores ctrl-C) raises
    KeyboardInterrupt.

    Python's default for SIGTERM ends the process at once: no cleanup runs and the command cannot say how
    to continue. As KeyboardInterrupt it takes ctrl-C's path: the run lock is released and the command
    prints how to continue. Main thread only (where the commands run)."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
