"""Inputs, detected by content rather than by name: mail-like text with diffs, C source, directories."""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from vfiolint.errors import InputError
from vfiolint.inputs.mail import decode_text, find_header_start, read_patches
from vfiolint.model import Patch
from vfiolint.source import SourceUnit, file_unit

log = logging.getLogger(__name__)

SUFFIXES = (".patch", ".diff", ".mbox", ".mbx", ".eml", ".mail", ".msg", ".txt", ".c", ".h")
C_LINE_RE = re.compile(r"^\s*(#\s*(include|define|if|ifdef|ifndef|endif)\b|.*[;{}]\s*$)")
MAIL_HINT_RE = re.compile(r"^(>|\[.*\b(PATCH|RFC)\b|Re: |On .* wrote:$|More information about)")


@dataclass(frozen=True, slots=True)
class Loaded:
    """What one input holds: patches (mail-like text) or one source file, and its errors."""

    input: str
    patches: tuple[Patch, ...] = ()
    source: SourceUnit | None = None
    errors: tuple[InputError, ...] = ()


def expand(names: list[str]) -> list[tuple[str, bool]]:
    """Replace each directory by the inputs it holds (sorted, hidden entries skipped).

    Each name comes with whether the user named it: a file found in a directory that turns out
    to be neither mail nor C (a README, build options) is skipped, not an error."""
    out: list[tuple[str, bool]] = []
    for name in names:
        path = Path(name)
        if name != "-" and path.is_dir():
            out += sorted(
                (str(p), False) for p in path.rglob("*")
                if p.is_file() and p.name.endswith(SUFFIXES)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            out.append((name, True))
    return out


def read_bytes(name: str) -> bytes:
    """Read an input's bytes; ``-`` is standard input."""
    if name == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from exc


def looks_like_mail(text: str) -> bool:
    """Tell whether text is a message or an archive page, even one without a diff."""
    lines = text.splitlines()
    if find_header_start(lines) is not None:
        return True
    hints = sum(1 for x in lines[:400] if MAIL_HINT_RE.match(x))
    return hints >= 3 or bool(lines and MAIL_HINT_RE.match(lines[0].strip()))


COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


def looks_like_c(text: str, name: str) -> bool:
    """Tell whether text reads as C source: most code lines (comments aside) end like C.

    A ``.c``/``.h`` name settles a file whose code is mostly macros or declarations."""
    lines = [x for x in COMMENT_RE.sub("", text).splitlines() if x.strip()]
    c_lines = sum(1 for x in lines if C_LINE_RE.match(x))
    if name.endswith((".c", ".h")) and (c_lines or not lines):
        return True
    return c_lines >= 1 and c_lines * 4 >= len(lines)


def load(name: str, data: bytes, named: bool = True) -> Loaded:
    """Read one input's bytes into patches or a source unit; bad content is an error when the
    user named the input, a skipped file when a directory search found it."""
    head = data[:8192]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        if not named:
            log.info("%s: binary data; skipped", name)
            return Loaded(name)
        return Loaded(name, errors=(InputError(f"{name}: binary data, not a patch, mail or C source"),))
    text = decode_text(data)
    patches, errors = read_patches(text, name)
    if patches or errors:
        return Loaded(name, tuple(patches), None, tuple(errors))
    if looks_like_mail(text):
        return Loaded(name)
    if looks_like_c(text, name):
        return Loaded(name, source=file_unit(name, data))
    if not named:
        log.info("%s: not a patch, mail or C source; skipped", name)
        return Loaded(name)
    if not text.strip():
        return Loaded(name, errors=(InputError(f"{name}: empty input"),))
    return Loaded(name, errors=(InputError(f"{name}: not a patch, mail or C source"),))
