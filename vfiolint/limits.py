"""Bounds on what one message (or file, or commit) may cost; a light module the CLI can load
at start-up."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one message (an input that is not an mbox is one message)."""

    message_bytes: int = 64 * MIB
    line_bytes: int = 1 * MIB
    hunks: int = 5000
    seconds: float = 60.0
