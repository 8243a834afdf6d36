"""Waivers: an acknowledged finding is still shown, marked as waived, and fails nothing.

- Inline, on the finding's line or the line above it:
  ``/* vfiolint: ignore[VFIO002] sub-page BARs are handled by the caller */``
  (``//`` comments too; several IDs or names separated by commas). A reason is required.
- In a commit message, a trailer waives a rule for the whole patch, so an acknowledged
  finding does not come back when the series is resent:
  ``Vfiolint-Waive: VFIO002 sub-page BARs are handled by the caller``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from vfiolint.model import Trailer

log = logging.getLogger(__name__)

INLINE_RE = re.compile(rb"vfiolint:\s*ignore\[([^\]]*)\]\s*(.*?)\s*(?:\*/\s*)?$")
TRAILER = "vfiolint-waive"


@dataclass(frozen=True, slots=True)
class Waiver:
    """Why a finding is accepted: ``by`` is ``inline`` or ``trailer``."""

    by: str
    reason: str


def parse_inline(line: bytes) -> tuple[frozenset[str], str] | None:
    """Read an inline waiver comment: the rule IDs or names it names, and its reason."""
    m = INLINE_RE.search(line)
    if m is None:
        return None
    ids = frozenset(x.strip().decode("utf-8", "replace") for x in m.group(1).split(b",")
                    if x.strip())
    return ids, m.group(2).decode("utf-8", "replace").strip()


def inline_waiver(rows: list[bytes], first: int, rule: str, name: str, where: str,
                  known: frozenset[str]) -> Waiver | None:
    """Find a waiver for a rule on row ``first`` or the row above it.

    A waiver without a reason is not honoured, and one naming an unknown rule is a warning:
    both are logged, never fatal."""
    for row in (first, first - 1):
        if not 0 <= row < len(rows) or b"vfiolint:" not in rows[row]:
            continue
        parsed = parse_inline(rows[row])
        if parsed is None:
            continue
        ids, reason = parsed
        for unknown in sorted(ids - known):
            log.warning("%s: waiver names unknown rule %s", where, unknown)
        if rule not in ids and name not in ids:
            continue
        if not reason:
            log.warning("%s: waiver for %s has no reason; not honoured", where, rule)
            continue
        return Waiver("inline", reason)
    return None


def trailer_waivers(trailers: tuple[Trailer, ...], where: str,
                    known: frozenset[str]) -> dict[str, Waiver]:
    """Return the rules a patch's ``Vfiolint-Waive:`` trailers waive, by ID or name."""
    waived: dict[str, Waiver] = {}
    for trailer in trailers:
        if trailer.name.lower() != TRAILER:
            continue
        rule, _, reason = trailer.value.partition(" ")
        reason = reason.strip()
        if rule not in known:
            log.warning("%s: Vfiolint-Waive names unknown rule %s", where, rule)
        elif not reason:
            log.warning("%s: Vfiolint-Waive for %s has no reason; not honoured", where, rule)
        else:
            waived[rule] = Waiver("trailer", reason)
    return waived
