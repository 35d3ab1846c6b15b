"""Value types the commands' argparse options share: a bad value is a one-line usage error naming the option.

    p.add_argument("--epochs", type=positive_int)      # 0 or -1: "argument --epochs: 0 is not a positive integer"
"""
from __future__ import annotations

import argparse


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
