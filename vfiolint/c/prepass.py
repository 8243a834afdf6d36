"""Offset-preserving C pre-pass: make macro-heavy VFIO code parseable by tree-sitter-c.

tree-sitter parses C without the preprocessor, so kernel, QEMU and DPDK idioms such as
``list_for_each_entry(pos, head, member) {``, ``void __user *arg``, ``RTE_EXPORT_SYMBOL(f)``
without a semicolon, ``container_of(p, struct x, m)`` or an ``#ifdef`` that switches the head of
an ``if`` leave ERROR nodes that swallow whole functions. ``neutralise(source, table)`` rewrites
those shapes into plain C of **exactly the same length, with every newline at the same offset**,
so every (row, column) and byte offset tree-sitter reports on the rewritten text is valid for the
original text and findings need no mapping back.

Rewrites (all outside comments, string and character literals, and preprocessor directives;
names are matched as whole identifiers):

* for-each macros used as loops: ``NAME(args) {`` -> ``while   (args) {`` (the name becomes
  ``while`` padded with spaces, ``if`` when the name is shorter than 5 characters; the
  parentheses and arguments stay where they are, ``struct``/``union``/``enum`` keywords inside
  them are blanked). Only when the invocation starts a statement (after ``;``, ``{``, ``}``,
  ``)``, ``:``, ``else``, ``do`` or a directive) and a statement or ``{`` follows it, so a call
  such as ``g_hash_table_foreach(t, fn, p);`` is left alone. Besides the table, any identifier
  containing ``for_each``/``foreach``/``FOREACH``/``FOR_EACH`` is tried with the same checks.
* attribute macros: the name, and its balanced ``(...)`` if one follows, become spaces;
  ``__attribute__((...))``, ``__attribute`` and ``__declspec(...)`` likewise.
* statement macros (``RTE_EXPORT_SYMBOL(x)``, ``EXPORT_SYMBOL_GPL(x);``, ``module_param(...)``):
  at file level the invocation and a following ``;`` become spaces; inside braces an invocation
  without a ``;`` becomes spaces and one with a ``;`` is left as the call it already parses as.
  An invocation followed by ``{`` defines a function (``RTE_INIT_PRIO(name, prio) {``): only the
  arguments after the first are blanked, so it parses as ``RTE_INIT_PRIO(name) {``. One
  followed by ``(`` wraps a function name (``MOCK_DEFINE(f)(int a)``): ``MOCK_DEFINE(`` and its
  ``)`` are blanked. ``RTE_DEFINE_PER_LCORE(type, name)`` and its kin become ``type name``.
  Where a statement is required (after ``if (...)``, ``else``, a label) a blanked invocation
  becomes ``{ }`` of the same length.
* macros no table knows, ``NAME(args)`` at the start of a statement, ending its line without a
  ``;`` (``__RTE_ARM_SEVL()``, ``EAL_REGISTER_TAILQ(x)``): at file level, and inside braces
  when the next line is not more indented, a statement macro (blanked as above); inside braces
  before a ``{`` or a more indented line, a loop head (rewritten as ``while``). A
  ``#define NAME(...) for (...)`` (or ``while``/a for-each call) in the same file makes NAME a
  loop macro, and a ``#define NAME(...) container_of(...)`` (any typename macro) a typename
  macro, for that file.
* ``offsetof(T, a.b)``: the member path becomes ``a_b`` (tree-sitter wants one field name).
* typename macros: used as a type (``QLIST_HEAD(, VFIOGroup) list``, ``TAILQ_HEAD(n, t) *h``,
  i.e. an identifier or ``*`` follows) every argument but the last is blanked with its comma
  (``QLIST_HEAD(  VFIOGroup)`` is a macro type specifier); used as an expression
  (``container_of(p, struct x, m)``) ``struct``/``union``/``enum`` at the start of an argument
  become spaces and a multi-word type (``min_t(unsigned long, a, b)``) gets ``_`` for the blanks
  inside it (``unsigned_long``), which parses as an identifier.
* GNU case ranges ``case A ... B:`` -> ``case A  -  B:``-shaped (``...`` becomes `` - ``).
* conditional directives: ``#if 0`` blocks are blanked up to their ``#else``/``#elif``/
  ``#endif``. A ``#if``/``#ifdef``/``#ifndef`` group whose branches would not parse on their own
  -- opened inside parentheses (an ``#ifdef`` in the middle of a condition or argument list),
  a branch with unbalanced braces/parentheses (``#ifdef X\\n if (a) {\\n#else\\n if (b) {``),
  or a branch that stops in the middle of a statement or a function head -- is flattened:
  **the first branch is kept** as plain code (the ``#if`` side, as if its condition held; the
  ``#else`` side for ``#if 0``) and the directive lines and every other branch are blanked.
  Groups whose branches are whole statements, declarations or functions are left for
  tree-sitter, which parses them as ``preproc_if`` with every branch visible. Other directives
  (``#define``...) right after a line ending in ``,``, ``=``, ``(``, ``= {`` or an operator sit
  inside an expression or initializer and are blanked.

A ``#`` outside comments, literals and directive lines starts a directive (true of valid C).

The pass never inserts or removes a byte, never moves a newline and never edits text inside a
comment or literal except when that text is an argument of a macro it blanks as a whole.
Compiled patterns are cached per table (``functools.cache``); ``neutralise`` is pure.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

from tree_sitter import Tree

from vfiolint.c import cparse
from vfiolint.c.definitions import NO_DEFINITIONS, Definitions
from vfiolint.c.lexer import BLANK as _BLANK
from vfiolint.c.lexer import code_view
from vfiolint.c.macros import (
    BUILTIN,
    DPDK,
    KERNEL,
    KINDS,
    QEMU,
    USERSPACE,
    MacroTable,
    classify,
    from_clang_format,
    learned,
    table_for,
)

__all__ = ["BUILTIN", "DPDK", "KERNEL", "KINDS", "QEMU", "USERSPACE", "MacroTable",
           "from_clang_format", "neutralise", "parse", "structural_view", "table_for"]

_WORDS_ONLY = bytes(c if (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A
                        or c == 0x5F) else 0x20 for c in range(256))
_PAREN_RE = re.compile(rb"[()]")
_NESTING_RE = re.compile(rb"[()\[\]{},]")
_BLANKS = b" \t\n\r\f\v\\"
_SIG_RE = re.compile(rb"[^ \t\n\r\f\v\\]")
_LOOP_HINTS = (b"for_each", b"foreach", b"FOREACH", b"FOR_EACH")
_IDENT_AROUND = re.compile(rb"[A-Za-z0-9_]*")
_WORD_RE = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_TYPE_ARG_RE = re.compile(
    rb"\s*(?P<quals>(?:(?:const|volatile|struct|union|enum)\s+)*)"
    rb"(?P<words>[A-Za-z_]\w*(?:[ \t]+[A-Za-z_]\w*)*)"
    rb"(?P<stars>(?:\s*\*(?:\s*(?:const|volatile|restrict|__restrict)\b)?)*)\s*")
_IF_ZERO_RE = re.compile(rb"[ \t]*#[ \t]*if[ \t]+\(?0\)?[ \t]*(?:/[/*]|$|\n)", re.M)
_TYPE_WORDS = frozenset(b"unsigned signed long short int char const volatile float double "
                        b"_Bool bool void".split())
_STMT_BEFORE = frozenset(b";{}):")
_NOT_CALL = frozenset({b"if", b"while", b"for", b"switch", b"return", b"sizeof", b"do",
                       b"else", b"case", b"typeof", b"__typeof__", b"_Alignof", b"defined"})
_DECLARATOR_MACROS = frozenset(b"RTE_DEFINE_PER_LCORE RTE_DECLARE_PER_LCORE DEFINE_PER_CPU "
                               b"DECLARE_PER_CPU DEFINE_PER_CPU_READ_MOSTLY".split())
_MEMBER_PATH_RE = re.compile(rb"\s*[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\s*")
_LOCAL_DEFINE_RE = re.compile(
    rb"define[ \t]+([A-Za-z_]\w*)\([^)\n]*\)((?:[ \t]|\\\n)*[^\n]{0,80})")
_LOCAL_LOOP_RE = re.compile(rb"(?:\s|\\\n)*(?:(?:for|while)\s*\(|\w*(?:for_each|foreach|FOREACH)"
                            rb"\w*\s*\()")
_KEYWORDS = frozenset(b"if while for switch return sizeof do else case typeof __typeof__ "
                      b"_Alignof alignof defined __attribute__ __asm__ asm __asm volatile "
                      b"_Static_assert static_assert goto break continue".split())
# `)` ending a line, then a line starting a statement (a `{` in column 0 opens a function)
_LINE_END_CALL_RE = re.compile(rb"\)[ \t\r]*\n(?:[ \t\r\f\v]*\n)*(?:[ \t]+([A-Za-z_{}*])|([A-Za-z_}*]))")
_KEYWORD_HEAD_RE = re.compile(rb"[ \t]*(?:\}[ \t]*)?(?:else[ \t]+)?(?:if|for|while|switch)[ \t]*\(")
_WORD_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_MAX_ARGS = 20000  # give up on a "balanced" parenthesis further than this


@dataclass(frozen=True, slots=True)
class _Compiled:
    names: frozenset[bytes]
    kind: dict[bytes, str]


@cache
def _compiled(table: MacroTable) -> _Compiled:
    """Per-table compiled pattern and name -> kind map (first kind wins in this order)."""
    kind: dict[bytes, str] = {}
    for key in ("attribute", "typename", "statement", "for_each"):
        for name in getattr(table, key):
            kind[name.encode()] = key
    for name in (b"__attribute__", b"__attribute", b"__declspec"):
        kind[name] = "attribute"
    return _Compiled(frozenset(n for n in kind if _WORD_RE.fullmatch(n)), kind)


def _find_names(code: bytearray, present: Iterable[bytes], kinds: dict[bytes, str]
                ) -> list[tuple[int, int, str]]:
    """Occurrences of the given names as whole identifiers in the code view."""
    hits = []
    for name in present:
        kind = kinds[name]
        size = len(name)
        pos = code.find(name)
        while pos >= 0:
            end = pos + size
            if not _is_word(code, end) and (pos == 0 or not _is_word(code, pos - 1)):
                hits.append((pos, end, kind))
            pos = code.find(name, end)
    return hits


class _Text:
    """One source text being rewritten: the original (``src``), the output (``out``, edited in
    place, never changing length) and the code view (``code``: comments, literals and directives
    blanked) that every search runs on; navigation over the code view and the edits."""

    def __init__(self, source: bytes) -> None:
        self.src = source
        self.out = bytearray(source)
        view = code_view(source)
        self.conds, self.runs, self.inside = view.conds, view.runs, view.inside
        self.code = bytearray(view.code)

    # --- navigation over the code view ---

    def next_sig(self, pos: int) -> int:
        """Index of the next non-blank byte of the code view at or after pos (len at end)."""
        m = _SIG_RE.search(self.code, pos)
        return m.start() if m else len(self.code)

    def prev_sig(self, pos: int) -> int:
        """Index of the previous non-blank byte before pos (-1 at start)."""
        code = self.code
        step = 128
        while pos > 0:
            low = max(0, pos - step)
            kept = len(code[low:pos].rstrip(_BLANKS))
            if kept:
                return low + kept - 1
            pos = low
            step *= 4
        return -1

    def arguments(self, end: int) -> tuple[int, int] | None:
        """Return the ``(`` and ``)`` of the balanced argument list right after a name."""
        open_pos = self.next_sig(end)
        if open_pos >= len(self.code) or self.code[open_pos] != 0x28:
            return None
        close = self.close_paren(open_pos)
        return None if close is None else (open_pos, close)

    def close_paren(self, open_pos: int) -> int | None:
        """Index of the ``)`` matching the ``(`` at open_pos, None when unbalanced."""
        depth = 0
        for m in _PAREN_RE.finditer(self.code, open_pos, open_pos + _MAX_ARGS):
            if m.group() == b"(":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return m.start()
        return None

    def open_paren(self, close_pos: int) -> int | None:
        """Index of the ``(`` matching the ``)`` at close_pos, None when unbalanced."""
        code = self.code
        floor = max(0, close_pos - _MAX_ARGS)
        pos = close_pos
        while True:
            pos = code.rfind(b"(", floor, pos)
            if pos < 0:
                return None
            if code.count(b"(", pos, close_pos) == code.count(b")", pos, close_pos + 1):
                return pos

    def args(self, open_pos: int, close_pos: int) -> list[tuple[int, int]]:
        """Spans of the top-level arguments between the parentheses."""
        spans, depth, start = [], 0, open_pos + 1
        for m in _NESTING_RE.finditer(self.code, open_pos + 1, close_pos):
            ch = m.group()
            if ch in b"([{":
                depth += 1
            elif ch in b")]}":
                depth -= 1
            elif depth == 0:  # ','
                spans.append((start, m.start()))
                start = m.end()
        spans.append((start, close_pos))
        return spans

    def word_before(self, pos: int) -> bytes:
        """The identifier ending just before pos (after blanks), or b''."""
        end = self.prev_sig(pos) + 1
        start = end
        while start > 0 and (chr(self.code[start - 1]).isalnum() or self.code[start - 1] == 0x5F):
            start -= 1
        return bytes(self.code[start:end])

    def at_statement_start(self, pos: int) -> bool:
        """Tell whether pos starts a statement (after ``;``, a brace, ``)``, ``:``, ``else``,
        ``do`` or nothing)."""
        before = self.prev_sig(pos)
        if before < 0 or self.code[before] in _STMT_BEFORE:
            return True
        return self.word_before(pos) in (b"else", b"do")

    def indent(self, pos: int) -> int:
        """Width of the indentation of pos's line (a tab counts 8)."""
        line = self.src.rfind(b"\n", 0, pos) + 1
        width = 0
        for ch in self.src[line:pos]:
            if ch == 0x09:
                width = width // 8 * 8 + 8
            elif ch == 0x20:
                width += 1
            else:
                break
        return width

    # --- edits (same length, never over a newline) ---

    def blank(self, start: int, end: int) -> None:
        """Blank a span of the output."""
        self.out[start:end] = self.src[start:end].translate(_BLANK)

    def drop(self, start: int, end: int) -> None:
        """Blank in the output and in the code view (later rewrites then ignore the text)."""
        self.out[start:end] = self.src[start:end].translate(_BLANK)
        self.code[start:end] = self.out[start:end]

    def put(self, pos: int, text: bytes) -> None:
        """Overwrite same-length text (never over a newline)."""
        assert b"\n" not in self.src[pos:pos + len(text)]
        self.out[pos:pos + len(text)] = text

    def blank_tags(self, start: int, end: int) -> None:
        """Make type arguments parse as expressions: blank struct/union/enum and qualifiers at
        the start of an argument and ``*`` at its end, join multi-word types with ``_``."""
        for a, b in self.args(start - 1, end):
            m = _TYPE_ARG_RE.fullmatch(self.code, a, b)
            if m is None:
                continue
            quals, words, stars = m.span("quals"), m.group("words").split(), m.span("stars")
            if quals[0] == quals[1] and stars[0] == stars[1] and len(words) == 1:
                continue  # a lone identifier: already an expression
            if len(words) > 1 and not all(w in _TYPE_WORDS for w in words):
                continue  # `a b`: not a type we know how to join
            self.blank(*quals)
            self.blank(*stars)
            w0, w1 = m.span("words")
            for i in range(w0, w1):
                if self.code[i] in b" \t":
                    self.out[i] = 0x5F  # '_'


class _Statements:
    """Statement and attribute macros: blanked, or kept as the call or function head they
    already parse as."""

    def __init__(self, text: _Text) -> None:
        self.t = text

    def attribute(self, start: int, end: int) -> int:
        """Blank an attribute macro and its arguments; returns where to continue."""
        t = self.t
        t.drop(start, end)
        found = t.arguments(end)
        if found is None:
            return end
        t.drop(found[0], found[1] + 1)
        return found[1] + 1

    def statement(self, start: int, end: int, depth: int) -> int:
        """Rewrite one statement macro invocation (see the module doc); returns where to
        continue."""
        t = self.t
        open_pos = t.next_sig(end)
        if open_pos >= len(t.code) or t.code[open_pos] != 0x28:
            after = t.next_sig(end)
            if depth == 0 or t.code[after:after + 1] != b";":
                self.void(start, end)  # a bare statement macro (`__rte_diagnostic_push`)
            return end
        close = t.close_paren(open_pos)
        if close is None:
            return end
        after = t.next_sig(close + 1)
        nxt = bytes(t.code[after:after + 1])
        if nxt == b"{" and depth > 0:  # `TEST("name") {`: the block is a block
            self.void(start, close + 1)
            return close + 1
        if nxt == b"{":  # RTE_INIT_PRIO(name, prio) { ... }: a function definition
            spans = t.args(open_pos, close)
            if len(spans) > 1:
                t.blank(spans[0][1], close)
            return close + 1
        if nxt == b"(":  # MOCK_DEFINE(name)(params): a wrapped function name
            t.blank(start, open_pos + 1)
            t.blank(close, close + 1)
            return close + 1
        spans = t.args(open_pos, close)
        if bytes(t.code[start:end]) in _DECLARATOR_MACROS and len(spans) == 2:
            # RTE_DEFINE_PER_LCORE(type, name) -> `type name`: a declaration
            t.blank(start, open_pos + 1)
            t.blank(spans[0][1], spans[0][1] + 1)
            t.blank(close, close + 1)
            return close + 1
        if nxt == b";":
            if depth > 0:
                return close + 1
            t.blank(start, after + 1)
            return after + 1
        if depth > 0:
            self.void(start, close + 1)
        else:
            t.blank(start, close + 1)
        return close + 1

    def void(self, start: int, end: int) -> None:
        """Remove a statement that has no semicolon: spaces, or ``{  }`` where a statement is
        required (after ``if (...)``, ``else``, ``do``, a label)."""
        t = self.t
        before = t.prev_sig(start)
        t.blank(start, end)
        needs = before >= 0 and (t.code[before] in b"):" or t.word_before(start) in (
            b"else", b"do"))
        if needs and end - start >= 2 and b"\n" not in t.src[start:start + 1] \
                and t.src[end - 1] != 0x0A:
            t.out[start] = 0x7B  # '{'
            t.out[end - 1] = 0x7D  # '}'


class _Loops:
    """Loop macros: ``NAME(args) stmt`` becomes ``while(args) stmt``; and the calls of macros
    no table knows, judged by what follows them."""

    def __init__(self, text: _Text, statements: _Statements) -> None:
        self.t = text
        self.statements = statements

    def for_each(self, start: int, end: int, listed: bool) -> int:
        """``NAME(args) stmt`` -> ``while(args) stmt``; returns where to continue."""
        t = self.t
        found = t.arguments(end)
        if found is None:
            return end
        open_pos, close = found
        after = t.next_sig(close + 1)
        nxt = bytes(t.code[after:after + 1])
        follows = nxt == b"{" or (nxt.isalpha() or nxt == b"_")
        if listed and nxt in (b"*", b"(", b"+", b"-", b"&", b"!", b"~"):
            follows = True
        if not follows or not t.at_statement_start(start):
            return end
        if nxt.isalpha() or nxt == b"_":  # `NAME(args) else` / `NAME(args) return` ...
            word = _WORD_RE.match(t.code, after)
            if word and word.group() in (b"else",):
                return end
        length = end - start
        if length >= 5:
            t.put(start, b"while" + b" " * (length - 5))
        elif length >= 2:
            t.put(start, b"if" + b" " * (length - 2))
        else:
            return end
        t.blank_tags(open_pos + 1, close)
        return open_pos + 1

    def unknown_calls(self, compiled: _Compiled) -> None:
        """``NAME(args)`` of a macro no table knows, at the start of a statement, with no
        semicolon and a new line after it: a loop head when a ``{`` or a more indented line
        follows, else a statement macro (blanked)."""
        t = self.t
        code = t.code
        depth = last = 0
        for m in _LINE_END_CALL_RE.finditer(code):
            close = m.start()
            if t.out[close] != 0x29:  # already rewritten (a table macro)
                continue
            if _KEYWORD_HEAD_RE.match(code, code.rfind(b"\n", 0, close) + 1):
                continue  # `if (...)` on one line: the common case, cheap to rule out
            nxt_pos = m.start(m.lastindex or 1)
            nxt = code[nxt_pos]
            open_pos = t.open_paren(close)
            if open_pos is None:
                continue
            name_end = t.prev_sig(open_pos) + 1
            window = bytes(code[max(0, name_end - 80):name_end])
            name = window[len(window.rstrip(_WORD_BYTES)):]
            name_start = name_end - len(name)
            if (not name or name[:1].isdigit() or name in _KEYWORDS
                    or name in compiled.kind or t.out[name_start] != code[name_start]):
                continue
            before = t.prev_sig(name_start)
            if (before >= 0 and code[before] not in b";{}):"
                    and t.word_before(name_start) not in (b"else", b"do")):
                continue
            depth += code.count(b"{", last, close) - code.count(b"}", last, close)
            last = close
            if depth <= 0:
                if nxt in b"{}*" or (before >= 0 and code[before] in b"):"):
                    continue
                t.blank(name_start, close + 1)
                continue
            word = _WORD_RE.match(code, nxt_pos)
            if nxt == 0x7B or (nxt != 0x7D and t.indent(nxt_pos) > t.indent(name_start)
                               and not (word and word.group() == b"else")):
                self.for_each(name_start, name_end, listed=True)
            elif name_end - name_start >= 2:
                self.statements.void(name_start, close + 1)


def typename(t: _Text, start: int, end: int) -> int:
    """Blank the struct/union/enum keywords in a type-taking macro's arguments (or, used as a
    type, every argument but the last); returns where to continue."""
    found = t.arguments(end)
    if found is None:
        return end
    open_pos, close = found
    if t.code[start:end] == b"offsetof":
        # offsetof(T, a.b): tree-sitter wants one field name; `a_b` keeps the length
        spans = t.args(open_pos, close)
        if len(spans) == 2 and _MEMBER_PATH_RE.fullmatch(t.code, *spans[1]):
            for i in range(*spans[1]):
                if t.code[i] == 0x2E:
                    t.out[i] = 0x5F
        return close + 1
    after = t.next_sig(close + 1)
    nxt = bytes(t.code[after:after + 1])
    spans = t.args(open_pos, close)
    word = t.word_before(start)
    as_type = (nxt == b"*" or nxt.isalpha() or nxt == b"_") and word not in _NOT_CALL
    if as_type and len(spans) > 1:
        t.blank(open_pos + 1, spans[-1][0])
        return close + 1
    t.blank_tags(open_pos + 1, close)
    return open_pos + 1


def local_macros(t: _Text, compiled: _Compiled) -> dict[bytes, str]:
    """Function-like macros this file defines as loops (``#define X(...) for (...)``) or as
    wrappers of a typename macro (``#define to_x(p) container_of(p, struct x, m)``)."""
    found: dict[bytes, str] = {}
    src, code = t.src, t.code
    for m in _LOCAL_DEFINE_RE.finditer(src):
        start = m.start()
        if code[start] != 0x20:  # not in a directive (code, or the inside of a literal)
            continue
        name = m.group(1)
        line = src.rfind(b"\n", 0, start) + 1
        if name in compiled.kind or src[line:start].strip(b" \t") not in (b"#", b"# "):
            continue
        body = m.group(2)
        if _LOCAL_LOOP_RE.match(body):
            found[name] = "for_each"
        else:
            call = _WORD_RE.search(body)
            if call and compiled.kind.get(call.group()) == "typename":
                found[name] = "typename"
    return found


def case_ranges(t: _Text) -> None:
    """GNU case ranges: ``case A ... B:`` -> ``case A  -  B:``."""
    code = t.code
    pos = code.find(b"...")
    while pos >= 0:
        stop = max(code.rfind(b";", 0, pos), code.rfind(b"{", 0, pos),
                   code.rfind(b"}", 0, pos), code.rfind(b":", 0, pos))
        head = code[stop + 1:pos].lstrip()
        if head.startswith(b"case") and not head[4:5].isalnum():
            t.put(pos, b" - ")
        pos = code.find(b"...", pos + 3)


class _Conditionals:
    """``#if`` groups whose branches would not parse on their own are flattened to their first
    branch; other directives inside an expression or initializer are blanked."""

    def __init__(self, text: _Text) -> None:
        self.t = text

    def groups(self) -> tuple[list[list[tuple[int, int]]], set[int]]:
        """Return the conditional groups (the spans of their directive lines, in order) and
        the starts of the ``#if 0`` ones."""
        groups: list[list[tuple[int, int]]] = []
        zero: set[int] = set()
        stack: list[list[tuple[int, int]]] = []
        for s, e, word in self.t.conds:
            if word in (b"if", b"ifdef", b"ifndef"):
                stack.append([(s, e)])
                if word == b"if" and _IF_ZERO_RE.match(self.t.src, s, e):
                    zero.add(s)
            elif word == b"endif":
                if stack:
                    group = stack.pop()
                    group.append((s, e))
                    groups.append(group)
            elif stack:  # elif, else
                stack[-1].append((s, e))
        return groups, zero

    def rewrite(self) -> None:
        """Flatten the groups that need it, blank directives inside expressions."""
        t = self.t
        groups, zero = self.groups()
        code = t.code
        for s, e in t.inside:  # `#define` right after `= {`, `,`, `(`: in an expression
            before = t.prev_sig(s)
            if before < 0:
                continue
            if code[before] == 0x7B:  # `= {` opens an initializer, a function body does not
                outer = t.prev_sig(before)
                if outer < 0 or code[outer] not in b"=,{":
                    continue
            t.drop(s, e)
        paren = brace = last = 0
        groups.sort()
        for marks in groups:
            if marks[0][0] in zero:
                # `#if 0`: keep the next branch if any (as code), drop the dead one
                t.drop(marks[0][0], marks[1][0] if len(marks) > 2 else marks[-1][1])
                if len(marks) > 2:
                    self.flatten(marks, keep=1)
                continue
            at = marks[0][0]
            paren += code.count(b"(", last, at) - code.count(b")", last, at)
            brace += code.count(b"{", last, at) - code.count(b"}", last, at)
            last = at
            flatten = paren > 0
            before = t.prev_sig(at) if brace > 0 else -1
            if before >= 0 and code[before] not in b";{}":
                flatten = True  # opened in the middle of a statement: `if (x)\n#ifdef`
            if not flatten:
                for (_, a), (b, _) in itertools.pairwise(marks):
                    if self.broken(a, b):
                        flatten = True
                        break
            if flatten:
                self.flatten(marks, keep=0)

    def broken(self, a: int, b: int) -> bool:
        """Tell whether a branch is not a sequence of whole statements/declarations."""
        t = self.t
        code = t.code
        if (code.count(b"{", a, b) != code.count(b"}", a, b)
                or code.count(b"(", a, b) != code.count(b")", a, b)):
            return True
        first = t.next_sig(a)
        if first >= b:
            return False
        if code[first] in b"})],.?:|&=+-*/<>!" or (
                code.startswith(b"else", first) and not _is_word(code, first + 4)):
            return True
        tail = code[t.prev_sig(b)]
        return tail not in b";}:{"

    def flatten(self, marks: list[tuple[int, int]], keep: int) -> None:
        """Blank every directive line of a group and every branch but branch ``keep``."""
        for s, e in marks:
            self.t.drop(s, e)
        for i, ((_, a), (b, _)) in enumerate(itertools.pairwise(marks)):
            if i != keep:
                self.t.drop(a, b)


def _is_word(code: bytes | bytearray, pos: int) -> bool:
    """Tell whether the byte at pos continues an identifier."""
    return 0 <= pos < len(code) and _WORDS_ONLY[code[pos]] != 0x20


def _table_hits(t: _Text, compiled: _Compiled) -> list[tuple[int, int, str]]:
    """Every occurrence of a table's macro name in the code view."""
    # splitting the text into words (C speed) tells which names occur at all; only those
    # are then searched for, so the cost does not grow with the size of the table
    present = compiled.names.intersection(bytes(t.code).translate(_WORDS_ONLY).split())
    return _find_names(t.code, present, compiled.kind)


def _other_hits(t: _Text, source: bytes, compiled: _Compiled) -> list[tuple[int, int, str]]:
    """Every occurrence of a loop-like name no table knows, and of the loop and typename
    macros the file defines itself."""
    code = t.code
    hits = []
    for hint in _LOOP_HINTS:
        pos = code.find(hint)
        while pos >= 0:
            s = pos
            while s > 0 and _is_word(code, s - 1):
                s -= 1
            e = _IDENT_AROUND.match(code, pos).end()  # type: ignore[union-attr]
            name = bytes(code[s:e])
            if not name[:1].isdigit() and name not in compiled.kind:
                hits.append((s, e, "loop"))
            pos = code.find(hint, e)
    local = local_macros(t, compiled) if b"define" in source else {}
    if local:
        hits += _find_names(code, local, local)
    return hits


def neutralise(source: bytes, table: MacroTable) -> bytes:
    """Return ``source`` rewritten so tree-sitter-c parses its macro idioms (see module doc).

    The result has exactly the length of ``source`` and a newline at exactly the same offsets.
    """
    compiled = _compiled(table)
    t = _Text(source)
    hits = _table_hits(t, compiled)  # before the conditionals: a dropped branch's are skipped
    if t.conds or t.inside:
        _Conditionals(t).rewrite()
    hits += _other_hits(t, source, compiled)
    if b"..." in t.code:
        case_ranges(t)
    hits.sort()
    statements = _Statements(t)
    loops = _Loops(t, statements)
    code = t.code
    done = 0
    for start, end, kind in hits:  # attributes first: type arguments then read clean
        if kind == "attribute" and start >= done and code[start] == source[start]:
            done = statements.attribute(start, end)
    done = 0
    depth = 0
    last = 0
    for start, end, kind in hits:
        if start < done or kind == "attribute" or code[start] != source[start]:
            continue
        if kind == "statement":
            depth += code.count(b"{", last, start) - code.count(b"}", last, start)
            last = start
            done = statements.statement(start, end, depth)
        elif kind == "typename":
            done = typename(t, start, end)
        else:
            done = loops.for_each(start, end, listed=kind == "for_each")
    loops.unknown_calls(compiled)
    return bytes(t.out)


def structural_view(source: bytes) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    """Return the code view of a text (comments, literals, directives blanked) with the ``#if``
    groups that would not parse alone flattened to their first branch, as ``neutralise`` does:
    a view in which braces balance, for scanning declarations without a parse. Also return
    the spans of the text's runs of comments and (non-conditional) directives."""
    t = _Text(source)
    if t.conds or t.inside:
        _Conditionals(t).rewrite()
    return bytes(t.code), t.runs


# ---------------------------------------------------------------------------------------------
# Parsing with macros learned where the parse breaks
# ---------------------------------------------------------------------------------------------

_MAX_LEARNED_ERRORS = 64  # error nodes looked around in one text
_C_WORDS = _KEYWORDS | frozenset(b"int char void long short unsigned signed float double "
                                 b"struct union enum const volatile static extern inline "
                                 b"register typedef auto restrict _Bool bool".split())
_CAPS_RE = re.compile(r"[A-Z][A-Z0-9_]*[A-Z0-9]")


def parse(source: bytes, table: MacroTable, definitions: Definitions = NO_DEFINITIONS,
          near: str = "") -> Tree:
    """Neutralise and parse a text; when the parse has ERROR nodes, learn the macros named on
    the lines around them and parse again with them, keeping the parse with fewer errors.

    A macro is learned from its own ``#define`` when the tree has one for the file
    (``definitions``: the file, its includes, the tree), else from the shape of its uses
    (``shape_kind``). The tree's own ``.clang-format`` adds its macro lists first."""
    extra = _clang_format_table(definitions.source(".clang-format"))
    if extra.names():
        table = table.with_merged(extra)
    tree = cparse.parse(cparse.valid_utf8(neutralise(source, table)))
    if not tree.root_node.has_error:
        return tree
    kinds = learn(source, tree, table, definitions, near)
    if not kinds:
        return tree
    retry = cparse.parse(cparse.valid_utf8(neutralise(source, table.with_merged(
        learned(kinds)))))
    if cparse.error_count(retry.root_node) < cparse.error_count(tree.root_node):
        return retry
    return tree


@lru_cache(maxsize=32)
def _clang_format_table(text: bytes | None) -> MacroTable:
    """Return the macro lists of the ``.clang-format`` at the top of a tree (none: empty)."""
    return from_clang_format(text.decode("utf-8", "replace")) if text else MacroTable()


def learn(source: bytes, tree: Tree, table: MacroTable, definitions: Definitions,
          near: str) -> dict[str, str]:
    """Classify the unknown names on the lines of a parse's errors (and the line above each)."""
    t = _Text(source)
    code = bytes(t.code)
    rows: set[int] = set()
    starts = [0, *(m.end() for m in re.finditer(rb"\n", code))]
    for count, node in enumerate(cparse.error_nodes(tree.root_node)):
        if count >= _MAX_LEARNED_ERRORS:
            break
        before = t.prev_sig(node.start_byte)  # the code just before, however far up
        rows.update((node.start_point.row - 1, node.start_point.row,
                     bisect.bisect_right(starts, before) - 1 if before >= 0 else 0))
    names: dict[bytes, None] = {}
    known = table.names()
    for row in sorted(rows):
        if 0 <= row < len(starts):
            end = starts[row + 1] if row + 1 < len(starts) else len(code)
            for word in _WORD_RE.findall(code, starts[row], end):
                if word not in _C_WORDS and word.decode() not in known:
                    names[word] = None
    kinds: dict[str, str] = {}
    braces = _Braces(code)
    for raw in names:
        name = raw.decode()
        kind = None
        found = definitions.macro(name, near).found
        if found is not None:
            kind = classify(found.params, found.body, table) or _through(found.body, table,
                                                                         definitions, near)
        if kind is None and _CAPS_RE.fullmatch(name):  # shapes: for names spelled as macros
            kind = shape_kind(t, code, raw, braces)
        if kind is not None:
            kinds[name] = kind
    return kinds


def _through(body: str, table: MacroTable, definitions: Definitions, near: str) -> str | None:
    """Classify a body made of another macro's call and storage words (``JEMALLOC_ATTR(x)
    static inline``): an attribute when that macro is one."""
    head = re.match(r"\s*([A-Za-z_]\w*)\s*\((?:[^()]|\([^()]*\))*\)(.*)$", body, re.S)
    if head is None or re.search(r"[^\w\s]", head.group(2)):
        return None
    inner = definitions.macro(head.group(1), near).found
    if inner is None or classify(inner.params, inner.body, table) != "attribute":
        return None
    rest = classify(None, head.group(2), table) if head.group(2).strip() else "attribute"
    return "attribute" if rest == "attribute" else None


_MAX_SHAPE_USES = 24  # a shape shows in the first uses; a common name is not read to the end


class _Braces:
    """The brace depth at any offset of a code view (from the braces' positions)."""

    def __init__(self, code: bytes) -> None:
        self.opens = [m.start() for m in re.finditer(rb"\{", code)]
        self.closes = [m.start() for m in re.finditer(rb"\}", code)]

    def depth(self, pos: int) -> int:
        """Return how many braces are open just before pos."""
        return bisect.bisect_left(self.opens, pos) - bisect.bisect_left(self.closes, pos)


def shape_kind(t: _Text, code: bytes, name: bytes, braces: _Braces | None = None) -> str | None:
    """Classify a name no definition explains by the shape of its uses.

    * ``NAME(...) {`` at the start of a statement inside braces: a loop header;
    * an all-caps word (``LUA_API``, ``REDIS_STATIC``) right before the type or name of a
      declaration at file scope (another word or a ``*`` follows it): an attribute;
    * ``NAME(...)`` at file scope with no ``;`` after it: a statement (a registration);
    * a bare ``NAME`` alone on its line as a statement, with no ``;``: a statement.

    ``code`` is the text's code view (``t.code``) as bytes."""
    braces = braces or _Braces(code)
    uses = re.finditer(rb"(?<![\w.>])" + re.escape(name) + rb"(?!\w)", code)
    for m in itertools.islice(uses, _MAX_SHAPE_USES):
        start, end = m.span()
        depth = braces.depth(start)
        after = t.next_sig(end)
        nxt = code[after:after + 1]
        if (depth > 0 and b"\n" in code[end:after] and t.at_statement_start(start)
                and (nxt in (b"}", b"{") or _WORD_RE.match(code, after))):
            return "statement"
        if nxt == b"(":
            close = t.close_paren(after)
            if close is None or not t.at_statement_start(start):
                continue
            follow = code[t.next_sig(close + 1):t.next_sig(close + 1) + 1]
            if depth > 0 and follow == b"{":
                return "for_each"
            if depth == 0 and follow not in (b";", b",", b")", b"="):
                return "statement"
        elif depth == 0 and _CAPS_RE.fullmatch(name.decode()) and (
                nxt == b"*" or _WORD_RE.match(code, after)):
            return "attribute"
    return None
