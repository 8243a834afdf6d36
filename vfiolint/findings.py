"""Finding, Span, Status, Severity, Confidence and the line-independent fingerprint."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from vfiolint.waivers import Waiver


class Status(StrEnum):
    """What a patch does to a hazard (docs/output.md, Statuses)."""

    INTRODUCED = "introduced"
    FIXED = "fixed"
    PRESENT = "present"


class Severity(StrEnum):
    """How bad a hazard is; the SARIF levels."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


class Confidence(StrEnum):
    """How often a match is a real bug."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    def lower(self) -> Confidence:
        """Return the next confidence step down."""
        order = [Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW]
        return order[min(order.index(self) + 1, len(order) - 1)]


@dataclass(frozen=True, slots=True)
class Span:
    """1-based lines and columns of a finding in the real file."""

    line: int
    end_line: int
    column: int
    end_column: int


@dataclass(frozen=True, slots=True)
class FlowStep:
    """One hop of the path that makes a finding a hazard: where the value is, as what type,
    and how it got there (``source``, ``read``, ``stored``, ``cast``, ``passed``, ``returned``,
    ``sink``, ``gate``)."""

    line: int
    column: int
    text: str
    note: str
    type: str | None = None

    def shown(self) -> str:
        """Render the step as a message shows it: `memreg[0].offset` (L731, unsigned long)."""
        kind = f", {self.type}" if self.type else ""
        return f"`{self.text}` (L{self.line}{kind})"


@dataclass(frozen=True, slots=True)
class PatchRef:
    """The patch a finding belongs to, as the JSON ``patch`` object shows it (docs/output.md)."""

    input: str
    index: int
    subject: str | None
    message_id: str | None
    commit: str | None


@dataclass(frozen=True, slots=True)
class HeadPlace:
    """Where a range finding's code is in the range's head commit (``--lines head``);
    ``path`` None when the code is gone there (rewritten, deleted, or fixed)."""

    commit: str
    path: str | None = None
    line: int | None = None
    end_line: int | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One hazard, with its status in a patch (or ``present`` in a plain file)."""

    rule: str
    name: str
    status: Status
    severity: Severity
    confidence: Confidence
    path: str
    span: Span
    message: str
    function: str | None
    fingerprint: str
    input: str
    patch: PatchRef | None
    snippet: tuple[tuple[int, str], ...] = ()
    waiver: Waiver | None = None
    flow: tuple[FlowStep, ...] = ()
    # The normalised text that identifies the hazard (what the fingerprint hashes with the
    # rule, path and function): a hazard moved to another function or file keeps it.
    key: str = field(default="", compare=False)
    head: HeadPlace | None = None

    @property
    def line(self) -> int:
        """Return the first line."""
        return self.span.line

    @property
    def end_line(self) -> int:
        """Return the last line."""
        return self.span.end_line

    def sort_key(self) -> tuple[str, int, str, int, str]:
        """Order findings by input, patch order, path, line, rule (docs/output.md)."""
        return (self.input, self.patch.index if self.patch else -1, self.path, self.line, self.rule)


def fingerprint(rule: str, path: str, function: str | None, text: str) -> str:
    """Hash what identifies a hazard across images, resends and line shifts: no line numbers."""
    import hashlib  # only runs with findings pay for the OpenSSL binding

    key = "\x1f".join((rule, path, function or "", text))
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:20]
