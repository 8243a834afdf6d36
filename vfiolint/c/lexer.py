"""The one C lexer: comments, string and character literals, and preprocessor directives.

Everything in vfiolint that must tell C code from the text around it asks this module: the
pre-pass (``code_view``), the hunk balancer (``balance``), the test of whether an input reads
as C (``blank_comments``) and the definition scanner (``blank_comments``, ``code_view``). Each
view has exactly the length of its source with every newline in place, so an offset in a
view is the same offset in the source.

The grammar is one set of patterns, each starting with a character class so that ``re`` skips
quickly to the next candidate:

* a block comment runs to its ``*/``, or to the end of the text when it is not closed;
* a line comment runs to the end of its line, continued by a backslash-newline;
* a string or character literal runs to its closing quote, or stops at the end of its line;
* a ``#`` outside comments and literals starts a directive (true of valid C), which runs to
  the end of its line, continued by backslash-newlines, with comments and literals inside.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

_COMMENT = rb"\*[^*]*\*+(?:[^/*][^*]*\*+)*/|\*.*"  # after the `/`; unterminated: to the end
_LINE_COMMENT = rb"/[^\n\\]*(?:\\.[^\n\\]*)*"  # after the `/`
_STRING = rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*"?'
_CHAR = rb"'[^'\\\n]*(?:\\.[^'\\\n]*)*'?"
# the rest of a directive line after `#word`: text, literals, comments, continuation lines
_DIRECTIVE_BODY = (rb"(?:[^\n\\/\"']+|\\.|/(?:" + _COMMENT + rb")|//[^\n]*|/(?![*/])|" + _STRING
                   + rb"|" + _CHAR + rb")*")
_CONDITIONAL = rb"(?:if|ifdef|ifndef|elif|else|endif|elifdef|elifndef)\b"
# more comments and (non-conditional) directive lines right after a comment or directive
_RUN = (rb"(?:[ \t\r\f\v]*(?:/(?:" + _COMMENT + rb"|" + _LINE_COMMENT + rb"))"
        rb"|[ \t\r\f\v]*\n(?:[ \t\r\f\v]*\n)*[ \t\f\v\r]*(?:/(?:" + _COMMENT + rb"|"
        + _LINE_COMMENT + rb")|#[ \t]*(?!" + _CONDITIONAL + rb")\w*" + _DIRECTIVE_BODY + rb"))*")
# Comments, literals and directive lines; a lone `/` matches too and is kept. Runs of comments
# and plain directives come as one match; a conditional directive alone, with its word.
_CODE_RE = re.compile(
    rb"[/\"'#](?:(?<=/)(?:(?:" + _COMMENT + rb"|" + _LINE_COMMENT + rb")" + _RUN + rb")?"
    rb"|(?<=\")" + _STRING[1:] + rb"|(?<=')" + _CHAR[1:] +
    rb"|(?<=#)[ \t]*(?:(?P<cond>" + _CONDITIONAL + rb")" + _DIRECTIVE_BODY
    + rb"|\w*" + _DIRECTIVE_BODY + _RUN + rb"))", re.S)
# Comments and literals only (directives are left as text, their comments still found).
_COMMENT_RE = re.compile(
    rb"[/\"'](?:(?<=/)(?:" + _COMMENT + rb"|" + _LINE_COMMENT + rb")"
    rb"|(?<=\")" + _STRING[1:] + rb"|(?<=')" + _CHAR[1:] + rb")?", re.S)

BLANK = bytes(c if c == 0x0A else 0x20 for c in range(256))
"""A ``bytes.translate`` table that turns every byte but a newline into a space."""
_INSIDE_MARKS = frozenset(b",=([{?:|&+<-")
_COMMENT_MARK_RE = re.compile(rb"/\*|\*/")
_BRACKETS_RE = re.compile(rb"[()\[\]{}]")
_CLOSED_RE = re.compile(rb'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'', re.S)
OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}


@cache
def _quoted_blank(quote: int, size: int) -> bytes:
    """A blanked one-line literal of ``size`` bytes: its quotes around spaces."""
    return bytes((quote,)) + b" " * (size - 2) + bytes((quote,))


@dataclass(frozen=True, slots=True)
class CodeView:
    """A text with comments, literal contents (quotes kept) and directive lines blanked.

    ``conds`` holds the conditional directives (start, end, word); ``runs`` the runs of other
    directives and comments (start, end); ``inside`` those runs of directives that follow a line
    ending in ``,``/``=``/``(``/``{``/an operator (a directive in the middle of an expression
    or initializer)."""

    code: bytes
    conds: tuple[tuple[int, int, bytes], ...]
    runs: tuple[tuple[int, int], ...]
    inside: tuple[tuple[int, int], ...]


def code_view(source: bytes) -> CodeView:
    """Return the code view of a text (see CodeView)."""
    conds: list[tuple[int, int, bytes]] = []
    runs: list[tuple[int, int]] = []

    def blank(m: re.Match[bytes]) -> bytes:
        text = m.group()
        first = text[0]
        if first == 0x23:  # '#': a directive, or a run of them
            word = m.group("cond")
            if word is not None:
                conds.append((m.start(), m.end(), word))
            else:
                runs.append((m.start(), m.end()))
            return text.translate(BLANK)
        size = len(text)
        if size < 2:
            return text
        if first == 0x2F:  # '/'
            if b"#" in text:  # a run of comments and directives
                runs.append(m.span())
            return text.translate(BLANK) if b"\n" in text else b" " * size
        if text[-1] == first:
            if b"\n" not in text:
                return _quoted_blank(first, size)
            return text[:1] + text[1:-1].translate(BLANK) + text[-1:]
        return text[:1] + text[1:].translate(BLANK)

    code = _CODE_RE.sub(blank, source)
    inside = []
    for start, end in runs:
        if source[start] == 0x23:
            line = source.rfind(b"\n", 0, start)
            if line >= 1 and code[line - 1] in _INSIDE_MARKS:
                inside.append((start, end))
    return CodeView(code, tuple(conds), tuple(runs), tuple(inside))


def _comment_blank(m: re.Match[bytes]) -> bytes:
    """Blank a comment (newlines kept); leave a literal as it is."""
    text = m.group()
    if text[:1] == b"/" and len(text) > 1:
        return text.translate(BLANK)
    return text


def blank_comments(source: bytes) -> bytes:
    """Return a text with its comments blanked (newlines kept) and everything else as it is,
    directives and literals included (a ``/*`` inside a literal opens no comment)."""
    if b"/" not in source:
        return source
    return _COMMENT_RE.sub(_comment_blank, source)


class State(StrEnum):
    """Where the end of a text stands: in code, in a comment, or in a literal."""

    CODE = "code"
    COMMENT = "comment"
    STRING = '"'
    CHAR = "'"


def starts_in_comment(text: str) -> bool:
    """Tell whether a fragment starts inside a block comment (its first mark is ``*/``)."""
    first = _COMMENT_MARK_RE.search(text.encode("utf-8", "surrogateescape"))
    return first is not None and first.group(0) == b"*/"


@dataclass(frozen=True, slots=True)
class Balance:
    """The brackets of a fragment: the closers it has no opener for (in order), the openers it
    leaves open (outermost first), and where its end stands."""

    closers: tuple[str, ...]
    opened: tuple[str, ...]
    state: State
    indented: bool = False  # the outermost unmatched ``}`` is not at the start of its line


def _final(matches: Iterator[re.Match[bytes]]) -> re.Match[bytes] | None:
    """Return the last of some matches (None when there is none)."""
    last = deque(matches, maxlen=1)
    return last[0] if last else None


def _end_state(source: bytes) -> State:
    """Tell whether a text ends inside a block comment or a literal (a literal inside a
    directive does not count: the directive ends at the line's end anyway)."""
    last = _final(_CODE_RE.finditer(source))
    if last is None or last.end() != len(source):
        return State.CODE
    text = last.group()
    if text[:1] in b"\"'":
        return State.CODE if _CLOSED_RE.fullmatch(text) else State(text[:1].decode())
    inner = _final(_COMMENT_RE.finditer(text))  # a run: its last comment may be open
    if inner is not None and inner.end() == len(text) and inner.group().startswith(b"/*") \
            and inner.group().find(b"*/", 2) < 0:
        return State.COMMENT
    return State.CODE


def _leading_hashes_only(source: bytes) -> bytes:
    """Blank every ``#`` that does not start its line: in a fragment cut from the middle of a
    macro, ``#x`` and ``a ## b`` on a continuation line are operators, not directives."""
    if b"#" not in source:
        return source
    lines = source.split(b"\n")
    for i, line in enumerate(lines):
        first = line.find(b"#")
        if first < 0:
            continue
        keep = first + 1 if not line[:first].strip() else 0
        if line.find(b"#", keep) >= 0:
            lines[i] = line[:keep] + line[keep:].replace(b"#", b" ")
    return b"\n".join(lines)


def balance(text: str) -> Balance:
    """Match the brackets of a C fragment outside comments, literals and directives.

    A fragment may start inside a block comment (a hunk cut in the middle of one): then its
    text up to the first ``*/`` is comment."""
    source = _leading_hashes_only(text.encode("utf-8", "surrogateescape"))
    prefix = b"/*" if starts_in_comment(text) else b""
    code = code_view(prefix + source).code
    closers: list[str] = []
    stack: list[str] = []
    indented = False
    for m in _BRACKETS_RE.finditer(code):
        tok = chr(m.group()[0])
        if tok in OPENERS:
            stack.append(tok)
        elif stack and stack[-1] == CLOSERS[tok]:
            stack.pop()
        elif not stack:
            closers.append(tok)
            if tok == "}":  # one inside a function closes a block, at column 0 the function
                line_start = max(code.rfind(b"\n", 0, m.start()) + 1, len(prefix))
                indented = m.start() > line_start
    return Balance(tuple(closers), tuple(stack), _end_state(prefix + source), indented)
