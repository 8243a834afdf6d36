"""What one C file defines, found by a lexical scan: macros, records, typedefs, functions and
its includes.

The scan reads two views of the text from the one lexer (``c/lexer.py``): directives with the
comments blanked (``#define``, ``#include``), and the code view with comments, literals and
directives blanked and the ``#if`` groups that would not parse alone flattened
(``prepass.structural_view``), in which braces balance. At file scope it splits the code at
``;`` and top-level braces, as Universal Ctags does, and reads each piece by its shape: a
``struct``/``union`` body, a ``typedef``, a function definition (a head ending in ``)`` before a
body) or a prototype. A record member the lexical reading cannot split is the one place a
tree-sitter parse is used: the record is then parsed whole.

A name defined twice in one file (``#ifdef`` branches) is kept twice: the resolver decides.
Definitions carry no path, only their line: the same blob may sit at several paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from vfiolint.c.definitions import FunctionDef, MacroDef, Member, RecordDef, TypedefDef, Where
from vfiolint.c.lexer import blank_comments

SCAN_VERSION = 1
"""Changes whenever a scan of the same text could give another answer (cache entries die)."""

_DIRECTIVE_RE = re.compile(rb"#[ \t]*(define|include_next|include)\b")
_DEFINE_RE = re.compile(rb"[ \t]+([A-Za-z_]\w*)(\()?")
_INCLUDE_RE = re.compile(rb'[ \t]*(?:"([^"\n]+)"|<([^>\n]+)>)')
_TOP_RE = re.compile(rb"[{};]")
_BRACE_RE = re.compile(rb"[{}]")
_WORD_RE = re.compile(r"[A-Za-z_]\w*")
_LAST_WORD_RE = re.compile(r"([A-Za-z_]\w*)\s*$")
_RECORD_KEY_RE = re.compile(r"\b(struct|union|enum)\b")
_INNER_RECORD_RE = re.compile(r"\b(?:struct|union)\s+([A-Za-z_]\w*)\s*\{")
_ATTRIBUTE_RE = re.compile(
    r"\b(?:__attribute__|__attribute|__declspec|__aligned|__rte_aligned|__section|"
    r"__rte_section|__rte_deprecated_msg|QEMU_ALIGNED|__counted_by|__sized_by|__printf|"
    r"__rte_format_printf|__rte_alloc_size|__alloc_size)\s*"
    r"\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)")
_ARRAY_RE = re.compile(r"\s*(\[[^\]]*\]\s*)+$")
_BITFIELD_RE = re.compile(r"\s*:\s*[\w\s+*()-]+$")
_STORAGE = frozenset({"static", "extern", "inline", "__inline", "__inline__", "register",
                      "_Thread_local", "__thread", "auto", "typedef", "_Noreturn", "noreturn"})
_QUALIFIERS = frozenset({"const", "volatile", "restrict", "__restrict", "__restrict__",
                         "_Atomic"})
_KEYWORDS = frozenset({"if", "while", "for", "switch", "return", "sizeof", "do", "else",
                       "case", "typeof", "__typeof__", "defined", "goto"})


@cache
def _attribute_words() -> frozenset[str]:
    """The attribute and storage macro names the pre-pass knows (they are not types)."""
    from vfiolint.c.macros import BUILTIN

    return frozenset(BUILTIN.attribute)


@dataclass(frozen=True, slots=True)
class Include:
    """An ``#include``: the name as written, quoted (``"x.h"``) or not (``<x.h>``), its line."""

    name: str
    quoted: bool
    line: int


@dataclass(frozen=True, slots=True)
class RecordBody:
    """A struct or union body as the scan found it: its members are read when asked for
    (``records``), most never are. ``inner`` names the tagged records defined inside it."""

    kind: str
    tag: str
    body: str
    line: int
    inner: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FunctionHead:
    """A function's head as the scan found it: its parameters (``params``, the text between
    the parentheses) are read when asked for (``function``)."""

    name: str
    returns: str
    pointer: int
    params: str
    definition: bool
    static: bool
    line: int


@dataclass(frozen=True, slots=True)
class BlobFacts:
    """What one text defines (every ``where.path`` is empty: see the module doc)."""

    macros: tuple[MacroDef, ...] = ()
    records: tuple[RecordBody, ...] = ()
    typedefs: tuple[TypedefDef, ...] = ()
    functions: tuple[FunctionHead, ...] = ()
    includes: tuple[Include, ...] = ()

    def to_plain(self) -> tuple[object, ...]:
        """Return the facts as nested tuples of str, int, bool and None (for ``marshal``)."""
        return (
            tuple((m.name, m.params, m.body, m.where.line) for m in self.macros),
            tuple((r.kind, r.tag, r.body, r.line, r.inner) for r in self.records),
            tuple((t.name, t.type, t.pointer, t.record, t.where.line) for t in self.typedefs),
            tuple((f.name, f.returns, f.pointer, f.params, f.definition, f.static, f.line)
                  for f in self.functions),
            tuple((i.name, i.quoted, i.line) for i in self.includes),
        )

    @classmethod
    def from_plain(cls, data: Any) -> BlobFacts:
        """Rebuild facts from ``to_plain``'s tuples (raises on anything else)."""
        macros, records, typedefs, functions, includes = data
        return cls(
            tuple(MacroDef(n, tuple(p) if p is not None else None, b, Where("", line))
                  for n, p, b, line in macros),
            tuple(RecordBody(k, t, b, line, tuple(i)) for k, t, b, line, i in records),
            tuple(TypedefDef(n, t, p, r, Where("", line)) for n, t, p, r, line in typedefs),
            tuple(FunctionHead(*f) for f in functions),
            tuple(Include(n, q, line) for n, q, line in includes),
        )

    def names(self) -> Iterator[tuple[str, str]]:
        """Yield (kind, name) for everything defined: ``m`` macro, ``s`` struct/union tag,
        ``t`` typedef, ``f`` function that other files can call, ``p`` static function."""
        for m in self.macros:
            yield "m", m.name
        for r in self.records:
            yield "s", r.tag
            for tag in r.inner:
                yield "s", tag
        for t in self.typedefs:
            yield "t", t.name
        for f in self.functions:
            yield ("p" if f.static else "f"), f.name


def plain_names(plain: Any) -> Iterator[tuple[str, str]]:
    """Yield what ``BlobFacts.names`` yields, from ``to_plain``'s tuples (no objects made)."""
    macros, records, typedefs, functions, _ = plain
    for m in macros:
        yield "m", m[0]
    for r in records:
        yield "s", r[1]
        for tag in r[4]:
            yield "s", tag
    for t in typedefs:
        yield "t", t[0]
    for f in functions:
        yield ("p" if f[5] else "f"), f[0]


@lru_cache(maxsize=4096)
def records(body: RecordBody) -> tuple[RecordDef, ...]:
    """Read a record body's members: the record itself first, then the tagged records
    defined inside it (a member that cannot be read lexically makes the parse read them)."""
    members, inner, unread = _members(body.body, body.tag)
    if unread:
        parsed = _parsed_members(body.kind, body.body.encode("utf-8", "surrogateescape"))
        if parsed:
            members = parsed
    where = Where("", body.line)
    return (RecordDef(body.kind, body.tag, tuple(members), where),
            *(RecordDef(r.kind, r.tag, r.members, where) for r in inner))


@lru_cache(maxsize=4096)
def function(head: FunctionHead) -> FunctionDef:
    """Read a function head's parameters into its signature."""
    params = []
    inside = head.params.strip()
    if inside and inside != "void":
        for part in _split_top(inside, ","):
            split = split_declaration(part)
            if split is None:
                continue
            base, _, decls = split
            params += [Member(d.name, base, d.pointer, d.array) for d in decls[:1]]
    return FunctionDef(head.name, head.returns, head.pointer, tuple(params), head.definition,
                       Where("", head.line), head.static)


class _Lines:
    """1-based line numbers of increasing offsets, counted incrementally."""

    def __init__(self, text: bytes) -> None:
        self.text, self.pos, self.line = text, 0, 1

    def at(self, pos: int) -> int:
        """Return the line of an offset (offsets must not decrease much: it recounts)."""
        if pos < self.pos:
            self.pos, self.line = 0, 1
        self.line += self.text.count(b"\n", self.pos, pos)
        self.pos = pos
        return self.line


def _decode(data: bytes) -> str:
    """Decode source bytes for names and types."""
    return data.decode("utf-8", "replace")


def _logical_line(text: bytes, pos: int) -> tuple[bytes, int]:
    """Return a directive's text from pos to its end (continuations joined) and that end."""
    end = text.find(b"\n", pos)
    while end >= 0 and (text[end - 1:end] == b"\\" or text[end - 2:end] == b"\\\r"):
        end = text.find(b"\n", end + 1)
    if end < 0:
        end = len(text)
    return text[pos:end].replace(b"\\\r\n", b" ").replace(b"\\\n", b" "), end


def directives(source: bytes, runs: Iterable[tuple[int, int]] | None = None
               ) -> tuple[tuple[MacroDef, ...], tuple[Include, ...]]:
    """Find the ``#define`` and ``#include`` directives of a text; ``runs``: the spans that
    hold its directives (``lexer.code_view``), when known (else the whole text is read)."""
    if b"#" not in source:
        return (), ()
    spans = [(0, len(source))] if runs is None else [r for r in runs
                                                     if b"#" in source[r[0]:r[1]]]
    lines = _Lines(source)
    macros: list[MacroDef] = []
    includes: list[Include] = []
    for begin, finish in spans:
        text = blank_comments(source[begin:finish])
        for m in _DIRECTIVE_RE.finditer(text):
            start = m.start()
            line_start = text.rfind(b"\n", 0, start) + 1
            if line_start == 0 and begin > 0:
                before = source[source.rfind(b"\n", 0, begin) + 1:begin]
            else:
                before = text[line_start:start]
            if before.strip(b" \t\f\v\r"):
                continue  # not the first thing on its line: `#` or `##` inside a macro body
            rest, _ = _logical_line(text, m.end())
            line = lines.at(begin + start)
            if m.group(1) == b"define":
                found = _define(rest, line)
                if found is not None:
                    macros.append(found)
                continue
            inc = _INCLUDE_RE.match(rest)
            if inc is not None:
                quoted = inc.group(1) is not None
                includes.append(Include(_decode(inc.group(1) or inc.group(2)).strip(), quoted,
                                        line))
    return tuple(macros), tuple(includes)


def _define(rest: bytes, line: int) -> MacroDef | None:
    """Read a ``#define``'s name, parameters and body (the text after ``define``)."""
    head = _DEFINE_RE.match(rest)
    if head is None:
        return None
    name = _decode(head.group(1))
    params: tuple[str, ...] | None = None
    body = rest[head.end():]
    if head.group(2):
        close = body.find(b")")
        if close < 0:
            return None
        params = tuple(p.strip() for p in _decode(body[:close]).split(",") if p.strip())
        body = body[close + 1:]
    return MacroDef(name, params, " ".join(_decode(body).split()), Where("", line))


def strip_attributes(text: str) -> str:
    """Remove attributes (``__attribute__((…))``, known attribute macros) from a declaration;
    the text comes back with its white space normalised."""
    if "__" in text and "(" in text:
        text = _ATTRIBUTE_RE.sub(" ", text)
    words = _attribute_words()
    if words.isdisjoint(_WORD_RE.findall(text)):
        return " ".join(text.split())
    return " ".join(w for w in _tokens(text) if w not in words)


def _tokens(text: str) -> list[str]:
    """Split a declaration into words and punctuation, keeping their order."""
    return re.findall(r"[A-Za-z_]\w*|\.\.\.|\S", text)


def _join(tokens: list[str]) -> str:
    """Join tokens into normalised text: a space only between two words."""
    out = ""
    for tok in tokens:
        word_after_word = out[-1:].isalnum() or out[-1:] == "_"
        if out and ((word_after_word and (tok[0].isalnum() or tok[0] == "_"))
                    or (tok == "*" and out[-1] not in "*(")):
            out += " "
        out += tok
    return out


def _split_top(text: str, sep: str) -> list[str]:
    """Split at a separator outside parentheses, brackets and braces."""
    if sep not in text:
        return [text]
    if "(" not in text and "[" not in text and "{" not in text:
        return text.split(sep)
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _matching_open(text: str, close: int) -> int:
    """Index of the ``(`` matching the ``)`` at close (-1 when unbalanced)."""
    pos = close
    while True:
        pos = text.rfind("(", 0, pos)
        if pos < 0:
            return -1
        if text.count("(", pos, close) == text.count(")", pos, close + 1):
            return pos


@dataclass(frozen=True, slots=True)
class _Declarator:
    """A declarator read from text: the name, its pointer depth, whether it is an array."""

    name: str
    pointer: int
    array: bool


def declarator(text: str) -> _Declarator | None:
    """Read one declarator: ``*name``, ``name[4]``, ``(*name)(args)``, ``name : 3``, ``name =
    value`` (None when no name is found)."""
    text = text.strip()
    if text.startswith("("):  # (*name)(args), (name)(args), (*name[4])
        close = _matching_close(text, 0)
        if close < 0:
            return None
        inner = declarator(text[1:close])
        if inner is None:
            return None
        return _Declarator(inner.name, inner.pointer, inner.array)
    text = _split_top(text, "=")[0]
    text = _BITFIELD_RE.sub("", text)
    array = "[" in text
    if array:
        text = _ARRAY_RE.sub("", text)
        if "[" in text:
            text = text[:text.index("[")]
    pointer = text.count("*") + text.count("^")
    words = [w for w in _WORD_RE.findall(text) if w not in _QUALIFIERS]
    if not words or "(" in text:
        return None
    return _Declarator(words[-1], pointer, array)


def _matching_close(text: str, open_pos: int) -> int:
    """Index of the ``)`` matching the ``(`` at open_pos (-1 when unbalanced)."""
    depth = 0
    for i in range(open_pos, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def split_declaration(text: str) -> tuple[str, int, list[_Declarator]] | None:
    """Split ``type declarator, declarator`` into the base type (storage words dropped, the
    ``*`` written against the type counted apart) and its declarators."""
    text = strip_attributes(text)
    parts = _split_top(text, ",")
    first = parts[0].strip()
    if not first:
        return None
    fnptr = re.search(r"\(\s*[*^]", first)
    if fnptr is not None:
        type_text, first_decl = first[:fnptr.start()], first[fnptr.start():]
    elif first.endswith(")"):  # `int (name_t)(args)`, `int name(args)`: a function type
        open_pos = _matching_open(first, len(first) - 1)
        before = first[:open_pos].rstrip()
        if before.endswith(")"):
            inner_open = _matching_open(before, len(before) - 1)
            type_text, first_decl = before[:inner_open], before[inner_open:]
        else:
            name = _LAST_WORD_RE.search(before)
            if name is None:
                return None
            type_text, first_decl = before[:name.start()], name.group(1)
    else:
        core = _split_top(first, "=")[0]
        core = _BITFIELD_RE.sub("", core)
        core = _ARRAY_RE.sub("", core)
        name = _LAST_WORD_RE.search(core)
        if name is None:
            return None
        head = core[:name.start()]
        stars = len(head) - len(head.rstrip(" *\t"))
        type_text, first_decl = head[:len(head) - stars], first[len(head) - stars:]
    words = [w for w in _tokens(type_text) if w not in _STORAGE]
    pointer = 0
    while words and words[-1] == "*":
        words.pop()
        pointer += 1
    base = _join(words)
    if not base or not _WORD_RE.search(base):
        return None
    found = [d for d in (declarator(x) for x in [first_decl, *parts[1:]]) if d is not None]
    if not found:
        return None
    first_found = found[0]
    found[0] = _Declarator(first_found.name, first_found.pointer + pointer, first_found.array)
    return base, pointer, found


def _members(body: str, tag: str) -> tuple[list[Member], list[RecordDef], bool]:
    """Read a record body into members (anonymous inner records flattened), the named inner
    records, and whether some member could not be read."""
    members: list[Member] = []
    inner: list[RecordDef] = []
    unread = False
    for item in _items(body):
        text = item.strip()
        if not text:
            continue
        if "{" in text:
            head, _, rest = text.partition("{")
            close = _matching_brace(rest)
            inner_body, trailer = rest[:close], rest[close + 1:]
            key = _RECORD_KEY_RE.search(head)
            names = [d for d in (declarator(x) for x in _split_top(strip_attributes(trailer), ","))
                     if d is not None]
            if key is None:
                unread = True
                continue
            kind = key.group(1)
            own = _LAST_WORD_RE.search(strip_attributes(head[key.end():]))
            if kind == "enum":
                members += [Member(d.name, f"enum {own.group(1)}" if own else "enum", d.pointer,
                                   d.array) for d in names]
                continue
            sub_members, sub_inner, sub_unread = _members(inner_body, tag)
            unread |= sub_unread
            inner += sub_inner
            if not names:  # an anonymous member: its members are the record's own
                members += sub_members
                continue
            sub_tag = own.group(1) if own else f"{tag}::{names[0].name}"
            inner.append(RecordDef(kind, sub_tag, tuple(sub_members), Where("", 0)))
            members += [Member(d.name, f"{kind} {sub_tag}", d.pointer, d.array) for d in names]
            continue
        split = split_declaration(text)
        if split is None:
            unread = unread or "(" in text
            continue
        base, _, decls = split
        members += [Member(d.name, base, d.pointer, d.array) for d in decls]
    return members, inner, unread


def _matching_brace(text: str) -> int:
    """Index of the ``}`` closing a block whose ``{`` is just before text (len at the end)."""
    depth = 1
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def _items(body: str) -> Iterator[str]:
    """Split a record body at the ``;`` outside nested braces."""
    depth, start = 0, 0
    for i, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ";" and depth == 0:
            yield body[start:i]
            start = i + 1
    yield body[start:]


def _parsed_members(kind: str, body: bytes) -> list[Member]:
    """Read a record's members from a tree-sitter parse (for bodies the lexical reading could
    not split: macros that take declarators, function-like members)."""
    from vfiolint.c import cparse, prepass

    text = kind.encode() + b" __vfiolint_record {" + body + b"};"
    tree = cparse.parse(prepass.neutralise(text, prepass.BUILTIN))
    record = tree.root_node.named_children[0] if tree.root_node.named_children else None
    body_node = record.child_by_field_name("body") if record is not None else None
    if body_node is None and record is not None:
        found = [n for n in record.named_children if n.type.endswith("_specifier")]
        body_node = found[0].child_by_field_name("body") if found else None
    if body_node is None:
        return []
    members = []
    for decl in body_node.named_children:
        if decl.type != "field_declaration":
            continue
        type_node = decl.child_by_field_name("type")
        if type_node is None:
            continue
        base = _join(_tokens(_decode(type_node.text or b"")))
        for d in decl.children_by_field_name("declarator"):
            read = declarator(_decode(d.text or b""))
            if read is not None:
                members.append(Member(read.name, base, read.pointer, read.array))
    return members


@dataclass
class _Scan:
    """The state of one structural scan."""

    source: bytes
    code: bytes
    lines: _Lines
    records: list[RecordBody] = field(default_factory=list)
    typedefs: list[TypedefDef] = field(default_factory=list)
    functions: list[FunctionHead] = field(default_factory=list)

    def where(self, pos: int) -> Where:
        """Return the place of an offset."""
        return Where("", self.lines.at(pos))

    def run(self) -> None:
        """Walk the file scope: declarations end at ``;``, blocks are read by their head."""
        code = self.code
        pos = seg = 0
        while True:
            m = _TOP_RE.search(code, pos)
            if m is None:
                break
            at = m.start()
            ch = code[at]
            if ch == 0x3B:  # ';'
                self.declaration(seg, at)
                pos = seg = at + 1
            elif ch == 0x7D:  # '}' closing an extern "C" block
                pos = seg = at + 1
            else:
                pos = seg = self.block(seg, at)

    def block(self, seg: int, open_pos: int) -> int:
        """Read a top-level ``{``: a record, a function body, ``extern "C"``, or data; return
        where the file scope goes on."""
        code = self.code
        head = _decode(code[seg:open_pos])
        words = head.split()
        if words[:1] == ["extern"] and head.replace(" ", "").endswith('extern""'):
            return open_pos + 1  # extern "C" { ... }: its inside is file scope
        close = _close_brace(code, open_pos)
        stripped = strip_attributes(head)
        if stripped.endswith(")") and "=" not in stripped:
            self.function(head, seg, definition=True)
            return close + 1
        key = _RECORD_KEY_RE.search(stripped)
        if key is None or "=" in stripped or "(" in stripped[:key.start()]:
            return close + 1  # an initializer, or something else: nothing to learn
        end = code.find(b";", close)
        end = len(code) if end < 0 else end
        trailer = _decode(code[close + 1:end])
        kind = key.group(1)
        own = _LAST_WORD_RE.search(strip_attributes(stripped[key.end():]))
        typedef = "typedef" in stripped[:key.start()].split()
        names = [d for d in (declarator(x) for x in _split_top(strip_attributes(trailer), ","))
                 if d is not None]
        tag = own.group(1) if own else (names[0].name if typedef and names else "")
        where = self.where(seg + len(head) - len(head.lstrip()))
        if kind != "enum" and tag:
            self.record(kind, tag, open_pos, close, where)
        if typedef:
            for d in names:
                self.typedefs.append(TypedefDef(d.name, f"{kind} {tag}".strip(), d.pointer,
                                                tag if kind != "enum" and tag else None, where))
        return end + 1

    def record(self, kind: str, tag: str, open_pos: int, close: int, where: Where) -> None:
        """Keep one record body, to be read when asked for."""
        body = _decode(self.code[open_pos + 1:close])
        inner = tuple(m.group(1) for m in _INNER_RECORD_RE.finditer(body)) if "{" in body \
            else ()
        self.records.append(RecordBody(kind, tag, body, where.line, inner))

    def declaration(self, start: int, end: int) -> None:
        """Read a file-scope declaration: a typedef or a prototype (variables are not kept)."""
        text = _decode(self.code[start:end]).strip()
        if not text:
            return
        if text.startswith("typedef") and not text[7:8].isalnum():
            split = split_declaration(text[7:])
            if split is None:
                return
            base, _, decls = split
            tagged = re.fullmatch(r"(?:const\s+)?(?:struct|union)\s+(\w+)", base)
            where = self.where(start + len(self.code[start:end]) - len(
                self.code[start:end].lstrip()))
            for d in decls:
                self.typedefs.append(TypedefDef(d.name, base, d.pointer,
                                                tagged.group(1) if tagged else None, where))
            return
        if text.endswith(")") or ")" in text:
            self.function(_decode(self.code[start:end]), start, definition=False)

    def function(self, head: str, start: int, definition: bool) -> None:
        """Read a function's head: ``storage type name(params)``."""
        text = strip_attributes(head)
        if not text.endswith(")"):
            return
        open_pos = _matching_open(text, len(text) - 1)
        if open_pos <= 0:
            return
        before = text[:open_pos].rstrip()
        name = _LAST_WORD_RE.search(before)
        if name is None or name.group(1) in _KEYWORDS:
            return
        head_words = before[:name.start()]
        if ")" in head_words:  # `EAL_REGISTER_TAILQ(x)` before it, with no semicolon
            head_words = head_words[head_words.rindex(")") + 1:]
        returns_words = [w for w in _tokens(head_words) if w not in _STORAGE]
        pointer = 0
        while returns_words and returns_words[-1] == "*":
            returns_words.pop()
            pointer += 1
        if not returns_words or not _WORD_RE.fullmatch(returns_words[-1]):
            return  # no return type: a macro invocation such as `RTE_INIT(f)`
        offset = head.find(name.group(1))
        where = self.where(start + (offset if offset >= 0 else 0))
        self.functions.append(FunctionHead(
            name.group(1), _join(returns_words), pointer, text[open_pos + 1:-1], definition,
            "static" in head_words.split(), where.line))


def _close_brace(code: bytes, open_pos: int) -> int:
    """Index of the ``}`` matching the ``{`` at open_pos (the text's end when unbalanced)."""
    depth = 0
    for m in _BRACE_RE.finditer(code, open_pos):
        if code[m.start()] == 0x7B:
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.start()
    return len(code)


def scan(source: bytes) -> BlobFacts:
    """Find what a C text defines (see the module doc)."""
    from vfiolint.c.prepass import structural_view

    code, runs = structural_view(source)
    macros, includes = directives(source, runs)
    state = _Scan(source, code, _Lines(code))
    state.run()
    return BlobFacts(macros, tuple(state.records), tuple(state.typedefs),
                     tuple(state.functions), includes)
