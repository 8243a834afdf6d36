"""Bounds on what one message (or file, or commit) may cost; a light module the CLI can load
at start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one message (an input that is not an mbox is one message)."""

    message_bytes: int = 64 * MIB
    line_bytes: int = 1 * MIB
    hunks: int = 5000
    seconds: float = 60.0


def physical_memory() -> int:
    """Return the memory this process may use in all: the machine's, or its cgroup's if less."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        cgroup = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return total
    return min(total, int(cgroup)) if cgroup.isdigit() else total


def memory_budget(requested_mib: float | None, workers: int) -> int:
    """Return the resident memory one worker process may reach, in bytes (0: no bound).

    By default the workers and the process that waits for them share the memory in equal
    parts, so that together they cannot exhaust it."""
    if requested_mib is not None:
        return int(requested_mib * MIB)
    return physical_memory() // (workers + 1)
