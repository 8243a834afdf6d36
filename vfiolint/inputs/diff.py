"""Unified diff text, as mail delivers it, to FileDiff / Hunk / Line.

Mail mangles diffs: clients wrap long ``diff --git`` and ``@@`` lines, strip the leading space of
context lines (and all indentation with it), truncate hunks, and append signatures. ``repair``
turns such text into a canonical unified diff, recomputing every hunk's counts from the lines
actually present, and parses each hunk as it goes; ``unidiff`` parses what git prints, and a
repaired file diff without hunks (a rename, a mode change). Both steps are pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vfiolint.errors import InputError
from vfiolint.model import FileDiff, Hunk, Line, LineKind

if TYPE_CHECKING:
    import unidiff

HUNK_RE = re.compile(r"^@@+ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@+ ?(.*)$")
GIT_RE = re.compile(r"^diff --git (\S+)(?: (\S+))?\s*$")
VERSION_RE = re.compile(r"^\d+(\.\d+)+\S*\s*$")
# A line this long or longer may have been wrapped by a mail client.
WRAP_MIN = 50
GIT_EXTENDED = (
    "index ",
    "old mode ",
    "new mode ",
    "deleted file mode ",
    "new file mode ",
    "similarity index ",
    "dissimilarity index ",
    "rename from ",
    "rename to ",
    "copy from ",
    "copy to ",
)


@dataclass(frozen=True, slots=True)
class FileSection:
    """One file's diff found in text: where it starts and its canonical unified diff."""

    start: int
    path: str
    text: str
    blobs: tuple[str, str] | None = None  # git's ``index <old>..<new>`` line
    file: FileDiff | None = None  # the parsed text, when it has hunks and both paths' lines


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote(path: str) -> str:
    """Undo git's C-style quoting of a path (``"a/d\\303\\251 v.c"``): octal bytes are UTF-8."""
    if len(path) < 2 or path[0] != '"' or path[-1] != '"':
        return path
    out = bytearray()
    body, i = path[1:-1], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567" and i + 3 < len(body) + 1 and body[i + 1:i + 4].isdigit():
                out.append(int(body[i + 1:i + 4], 8) & 0xFF)
                i += 4
                continue
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
        out += ch.encode("utf-8", "surrogateescape")
        i += 1
    return out.decode("utf-8", "surrogateescape")


def strip_prefix(path: str | None) -> str | None:
    """Drop git's quoting, its ``a/`` / ``b/`` prefix and any timestamp; None for
    ``/dev/null``."""
    if path is None:
        return None
    path = path.strip()
    path = unquote(path) if path.startswith('"') else path.split("\t", 1)[0].strip()
    if path == "/dev/null":
        return None
    if path.startswith(("a/", "b/")):
        path = path[2:]
    return path or None


def is_signature(lines: Sequence[str], i: int) -> bool:
    """Tell whether line ``i`` starts a mail signature (``-- ``, or ``--`` before a version)."""
    line = lines[i]
    if line == "-- ":
        return True
    if line != "--":
        return False
    rest = [x for x in lines[i + 1 : i + 3] if x.strip()]
    return not rest or bool(VERSION_RE.match(rest[0]))


def whitespace_lost(lines: Sequence[str]) -> bool:
    """Tell whether the hunks in ``lines`` lost the leading space of their context lines."""
    spaced = bare = 0
    in_hunk = False
    for line in lines:
        if line[:2] == "@@" and HUNK_RE.match(line):
            in_hunk = True
            continue
        if line.startswith(("diff --git ", "--- ", "+++ ")):
            in_hunk = False
            continue
        if not in_hunk or not line:
            continue
        if line[0] == " ":
            spaced += 1
        elif line[0] not in "+-\\":
            bare += 1
    return spaced == 0 and bare > 1


def _git_paths(lines: Sequence[str], i: int) -> tuple[str | None, str | None, int]:
    """Read a ``diff --git`` line, joining a wrapped second path; return paths and next index."""
    m = GIT_RE.match(lines[i])
    if not m:
        return None, None, i + 1
    old, new = m.group(1), m.group(2)
    nxt = i + 1
    if new is None and nxt < len(lines) and lines[nxt].strip().startswith("b/"):
        new = lines[nxt].strip().split()[0]
        nxt += 1
    return old, new, nxt


def _hunk_body(
    lines: Sequence[str], j: int, old_left: int, new_left: int, lost: bool
) -> tuple[list[str], int]:
    """Collect canonical hunk lines from ``j`` until the counts run out or the hunk visibly ends."""
    body: list[str] = []
    last_len = 0
    n = len(lines)
    while j < n and (old_left > 0 or new_left > 0):
        line = lines[j]
        if line[:1] in "d@-" and line and (  # what ends a hunk starts with one of these
                line.startswith(("diff --git ", "@@ ")) or HUNK_RE.match(line) or
                is_signature(lines, j) or (
                    line.startswith("--- ") and j + 1 < n and lines[j + 1].startswith("+++ "))):
            break
        if line.startswith("\\"):
            body.append("\\ No newline at end of file")
            j += 1
            continue
        head = line[:1]
        if head == "+":
            body.append(line)
            new_left -= 1
        elif head == "-":
            body.append(line)
            old_left -= 1
        elif head == " " or line == "":
            body.append(line if line else " ")
            old_left -= 1
            new_left -= 1
        elif lost:
            body.append(" " + line)
            old_left -= 1
            new_left -= 1
        elif body and last_len >= WRAP_MIN and not body[-1].startswith("\\"):
            # A mail client broke a long line at a space: rejoin it.
            body[-1] = body[-1] + " " + line
        else:
            break
        last_len = len(line)
        j += 1
    return body, j


STATEMENT_RE = re.compile(r"^(if|for|while|switch|return|do|goto)\b")


def restore_blank_lines(body: list[str], missing: int) -> list[str]:
    """Put back blank context lines an archive dropped, where C code almost always has them.

    Used only when a layer has no empty line at all and a hunk is short by the same number of
    lines on both sides: after a closing ``}``, between declarations and the first statement,
    and as trailing context.
    """
    spots: list[int] = []
    for i, line in enumerate(body):
        text = line[1:].strip()
        if line[:1] == " " and text == "}" and i + 1 < len(body) and body[i + 1][1:].strip():
            spots.append(i + 1)
    for i in range(1, len(body)):
        prev, text = body[i - 1][1:].strip(), body[i][1:].strip()
        same_change = body[i - 1][:1] == body[i][:1] != " "
        if (
            STATEMENT_RE.match(text)
            and prev.endswith(";")
            and not STATEMENT_RE.match(prev)
            and not same_change  # "+" and "-" blank lines survive; only context ones are lost
        ):
            spots.append(i)
    spots.append(len(body))
    chosen = sorted(spots[:missing], reverse=True)
    out = list(body)
    for spot in chosen:
        out.insert(spot, " ")
    return out


def counts(body: Sequence[str]) -> tuple[int, int]:
    """Count a hunk body's pre-image lines (context and removed) and post-image lines."""
    added = removed = marks = 0
    for x in body:
        first = x[:1]
        if first == "+":
            added += 1
        elif first == "-":
            removed += 1
        elif first and first != " ":
            marks += 1  # "\\ No newline at end of file"
    context = len(body) - added - removed - marks
    return context + removed, context + added


def _canonical_hunk(header: re.Match[str], section: str, body: list[str]) -> tuple[str, Hunk]:
    """Render one hunk with counts recomputed from its lines, and parse it (as ``parse`` would
    parse the rendered text)."""
    old_n, new_n = counts(body)
    old_start, new_start = int(header.group(1)), int(header.group(3))
    # unidiff (like git) numbers an empty side from the line before it.
    if old_n == 0 and header.group(2) is None:
        old_start = max(old_start - 1, 0)
    if new_n == 0 and header.group(4) is None:
        new_start = max(new_start - 1, 0)
    head = f"@@ -{old_start},{old_n} +{new_start},{new_n} @@"
    if section:
        head += " " + section
    lines: list[Line] = []
    old, new = old_start, new_start
    for x in body:
        kind = x[:1]
        if kind == "+":
            lines.append(Line(LineKind.ADDED, x[1:], None, new))
            new += 1
        elif kind == "-":
            lines.append(Line(LineKind.REMOVED, x[1:], old, None))
            old += 1
        elif kind != "\\":
            lines.append(Line(LineKind.CONTEXT, x[1:], old, new))
            old += 1
            new += 1
    return "\n".join([head, *body]), Hunk(old_start, old_n, new_start, new_n, section.strip(),
                                          tuple(lines))


def _file_of(old: str | None, new: str | None, hunks: list[Hunk]) -> FileDiff:
    """Make the FileDiff of a canonical section with hunks (an empty side, or a single hunk
    from line 0 of a side, is a file added or removed, as unidiff says)."""
    added = old is None or (len(hunks) == 1 and hunks[0].old_start == 0 and
                            hunks[0].old_len == 0)
    removed = new is None or (len(hunks) == 1 and hunks[0].new_start == 0 and
                              hunks[0].new_len == 0)
    return FileDiff(None if added else old, None if removed else new, tuple(hunks))


def repair(lines: Sequence[str]) -> list[FileSection]:
    """Find every file diff in ``lines`` (one quote layer) and render it canonically."""
    lines = [x.replace("\xa0", " ") for x in lines]
    lost = whitespace_lost(lines)
    no_blank = len(lines) > 20 and all(x for x in lines)
    sections: list[FileSection] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        start = i
        old: str | None = None
        new: str | None = None
        extended: list[str] = []
        if line.startswith("diff --git "):
            old, new, i = _git_paths(lines, i)
            while i < n and lines[i].startswith(GIT_EXTENDED):
                extended.append(lines[i])
                i += 1
            if i < n and lines[i].startswith("Binary files "):
                extended.append(lines[i])
                i += 1
        if i + 1 < n and lines[i].startswith("--- ") and lines[i + 1].startswith("+++ "):
            old = lines[i][4:]
            new = lines[i + 1][4:]
            i += 2
        elif old is None:
            i += 1
            continue
        hunks: list[str] = []
        parsed: list[Hunk] = []
        while i < n:
            m = HUNK_RE.match(lines[i])
            if not m:
                break
            section = m.group(5).strip()
            j = i + 1
            if (
                not lost
                and j < n
                and lines[j]
                and lines[j][0] not in " +-\\"
                and len(lines[i]) >= WRAP_MIN
            ):
                section = f"{section} {lines[j].strip()}"
                j += 1
            old_len = int(m.group(2)) if m.group(2) is not None else 1
            new_len = int(m.group(4)) if m.group(4) is not None else 1
            body, i = _hunk_body(lines, j, old_len, new_len, lost)
            old_n, new_n = counts(body)
            short_old, short_new = old_len - old_n, new_len - new_n
            if no_blank and 0 < short_old == short_new <= 5:
                body = restore_blank_lines(body, short_old)
            if any(x[:1] in "+-" for x in body):
                text, hunk = _canonical_hunk(m, section, body)
                hunks.append(text)
                parsed.append(hunk)
        old_p, new_p = strip_prefix(old), strip_prefix(new)
        if (not hunks and not extended) or (old_p is None and new_p is None):
            continue
        path = new_p or old_p or "?"
        spaced = any(c.isspace() for c in (old_p or "") + (new_p or ""))
        if spaced and not hunks:
            continue  # a rename or mode change of an oddly named file: nothing to analyse
        # A 'diff --git' line cannot say where a path with a space ends: leave it out then.
        head = [] if spaced else [f"diff --git a/{old_p or path} b/{new_p or path}"]
        head += [x for x in extended if not x.startswith("index ") and not spaced]
        if not spaced and old_p is None and not any(x.startswith("new file mode")
                                                    for x in extended):
            head.append("new file mode 100644")
        if not spaced and new_p is None and not any(x.startswith("deleted file mode")
                                                    for x in extended):
            head.append("deleted file mode 100644")
        if hunks:
            head.append(f"--- {'a/' + old_p if old_p else '/dev/null'}")
            head.append(f"+++ {'b/' + new_p if new_p else '/dev/null'}")
        blobs = index_blobs(extended)
        file = blobs_of(_file_of(old_p, new_p, parsed), blobs) if hunks else None
        sections.append(FileSection(start, path, "\n".join(head + hunks) + "\n", blobs, file))
    return sections


INDEX_RE = re.compile(r"^index ([0-9a-f]{4,64})\.\.([0-9a-f]{4,64})(?: \d+)?\s*$")


def index_blobs(extended: Sequence[str]) -> tuple[str, str] | None:
    """Return the old and new blob ids of a file's ``index`` line, if it has one."""
    for line in extended:
        m = INDEX_RE.match(line)
        if m:
            return m.group(1), m.group(2)
    return None


def file_diffs(sections: Sequence[FileSection]) -> tuple[FileDiff, ...]:
    """Return the FileDiffs of some canonical sections: parsed while they were repaired, or,
    for a section with no hunk (a rename, a mode change), by parsing the text."""
    if all(s.file is not None for s in sections):
        return tuple(s.file for s in sections if s.file is not None)
    return with_blobs(parse("".join(s.text for s in sections)), sections)


def with_blobs(files: tuple[FileDiff, ...], sections: Sequence[FileSection]
               ) -> tuple[FileDiff, ...]:
    """Give each file diff the blob ids of its section's ``index`` line (one section each)."""
    if len(files) != len(sections):
        return files
    out = []
    for f, section in zip(files, sections, strict=True):
        if section.blobs is None:
            out.append(f)
            continue
        out.append(blobs_of(f, section.blobs))
    return tuple(out)


def blobs_of(f: FileDiff, blobs: tuple[str, str] | None) -> FileDiff:
    """Give a file diff the blob ids of its ``index`` line (all zeros: no such side)."""
    if blobs is None:
        return f
    old, new = blobs
    return replace(f, old_blob=None if set(old) == {"0"} else old,
                   new_blob=None if set(new) == {"0"} else new)


def _line(line: unidiff.patch.Line) -> Line:
    """Convert one unidiff line."""
    kind = {"+": LineKind.ADDED, "-": LineKind.REMOVED}.get(line.line_type, LineKind.CONTEXT)
    return Line(kind, line.value.rstrip("\n"), line.source_line_no, line.target_line_no)


def parse(text: str) -> tuple[FileDiff, ...]:
    """Parse a canonical unified diff into FileDiffs."""
    from unidiff.errors import UnidiffParseError  # what git prints: mail is read by repair()
    from unidiff.patch import PatchSet

    try:
        patchset = PatchSet(text)
    except UnidiffParseError as exc:
        raise InputError(f"diff: {' '.join(str(exc).split())}") from exc
    files = []
    for pf in patchset:
        hunks = tuple(
            Hunk(
                h.source_start,
                h.source_length,
                h.target_start,
                h.target_length,
                h.section_header.strip(),
                tuple(_line(x) for x in h if x.line_type in "+- "),
            )
            for h in pf
        )
        files.append(
            FileDiff(
                None if pf.is_added_file else strip_prefix(pf.source_file),
                None if pf.is_removed_file else strip_prefix(pf.target_file),
                hunks,
                pf.is_binary_file,
            )
        )
    return tuple(files)
