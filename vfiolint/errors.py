"""The exceptions vfiolint raises: one line each, naming the thing and the problem."""

from __future__ import annotations


class VfiolintError(Exception):
    """Base of every error vfiolint reports to its user."""


class InputError(VfiolintError):
    """An input that could not be read or parsed."""


class RuleError(VfiolintError):
    """A rule file that does not load or validate."""


class GitError(VfiolintError):
    """A git command that failed or a revision that does not exist."""


class Skipped(Exception):
    """Work that was given up (its worker process died or outgrew its memory, say); the
    message says why, ``skipped: …``, and the caller names the work."""
