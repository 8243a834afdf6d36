"""Patch (+ repository) -> pairs of SourceUnit: the pre-image and post-image of each touched file.

Without a repository the images are made of hunks: context plus removed lines, context plus
added lines. A hunk starts and ends anywhere, often inside a function body, so each fragment is
balanced before parsing: synthetic lines open what it closes (a function named after the ``@@``
section) and close what it leaves open. Synthetic lines map to no real line, so a finding always
points at a line the user wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import tree_sitter
from tree_sitter import Node

from vfiolint.c import cparse, lexer
from vfiolint.c.definitions import NO_DEFINITIONS, Definitions
from vfiolint.c.lexer import CLOSERS, OPENERS
from vfiolint.model import FileDiff, Hunk, Line, LineKind

FUNC_NAME_RE = re.compile(r"([A-Za-z_]\w*)\s*\(")
RECORD_RE = re.compile(r"^\s*(?:typedef\s+)?(struct|union|enum)\b[^;(]*$")
OPERATOR_TAIL = set(",=+-*/%&|^<>!?:(")


class Origin(StrEnum):
    """Where a unit's text came from."""

    FILE = "file"
    HUNKS = "hunks"


@dataclass(frozen=True, slots=True)
class SourceUnit:
    """One image of one file, ready to parse.

    ``line_map[row]`` is the 1-based real line of 0-based row ``row`` (None for a synthetic
    line); an empty ``line_map`` means rows are the file's own lines. ``touched`` holds the real
    lines the change touched in this image, and ``n + 0.5`` where lines only the other image
    has sit between lines ``n`` and ``n + 1`` (``touched_lines``); ``definitions`` answers for
    the rest of the tree.
    """

    path: str
    text: bytes
    origin: Origin
    line_map: tuple[int | None, ...] = ()
    touched: frozenset[float] = frozenset()
    # The tree around the image, when one is at hand (--git, --staged, --tree, --repo).
    definitions: Definitions = field(default=NO_DEFINITIONS, compare=False)
    # Where the whole text came from: blob | base-commit | head (a patch checked with its
    # repository), tree (git objects, a work tree), file (a file alone); "" for hunks.
    context: str = field(default="", compare=False)

    def real_line(self, row: int) -> int | None:
        """Return the 1-based real line of a 0-based row, None for a synthetic row."""
        if not self.line_map:
            return row + 1
        return self.line_map[row] if 0 <= row < len(self.line_map) else None


@dataclass(frozen=True, slots=True)
class UnitPair:
    """The pre-image and post-image of one file a patch touches (None where it has none)."""

    path: str
    pre: SourceUnit | None
    post: SourceUnit | None
    # The keyword parts the two images (and the path) hold, when known without reading them
    # (a git blob's kept parts): the rules that can match are chosen from them.
    parts: frozenset[bytes] | None = None


def section_function(section: str) -> str | None:
    """Return the function a ``@@`` section names, if it names one."""
    if RECORD_RE.match(section) or (section.rstrip().endswith(("{", ";")) and "(" not in section):
        return None
    m = FUNC_NAME_RE.search(section)
    return m.group(1) if m else None


def section_parameters(section: str) -> str:
    """Return the parameter list a ``@@`` section shows of its function, completed when git
    cut the line short (``vfio_mmap_bar(VFIOBAR *bar, MemoryRegion *mem,`` keeps the whole
    parameters it shows); ``void`` when it shows none whole.

    The parameters' types are evidence a rule may need: a function that receives guest
    memory regions, say, when the hunk shows nothing else of it."""
    m = FUNC_NAME_RE.search(section)
    if m is None:
        return "void"
    rest = section[m.end():]
    depth, cut, end = 0, -1, -1
    for i, ch in enumerate(rest):
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            if depth == 0:
                end = i
                break
            depth -= 1
        elif ch == "," and depth == 0:
            cut = i
        elif ch in ";{\"'":
            break
    params = rest[:end] if end >= 0 else rest[:cut] if cut >= 0 else ""
    params = params.strip()
    return params if params and "/*" not in params and "//" not in params else "void"


def _opening(closers: tuple[str, ...], section: str, params: bool = False) -> str:
    """Return the text that opens what a fragment closes without opening."""
    parts = []
    for k, closer in enumerate(reversed(closers)):
        opener = CLOSERS[closer]
        if opener == "{" and k == 0:
            name = section_function(section)
            if name:
                args = section_parameters(section) if params else "void"
                parts.append(f"void {name}({args}) {{")
            elif RECORD_RE.match(section):
                parts.append(section.split("{", 1)[0].strip() + " {")
            else:
                parts.append("void __vfiolint_fragment(void) {")
        else:
            parts.append(opener)
    return " ".join(parts)


def _closing(body: str, stack: tuple[str, ...], state: str) -> str:
    """Return the text that closes what a fragment leaves open."""
    out = {"comment": " */", '"': '"', "'": "'"}.get(state, "")
    tail = (body + out).rstrip()
    for opener in reversed(stack):
        last = tail[-1:] if tail else ""
        piece = ""
        if opener in "([" and last in OPERATOR_TAIL:
            piece = "0"
        if opener == "{" and last not in {";", "{", "}", ""}:
            piece = ";"
        piece += OPENERS[opener]
        out += piece
        tail += piece
    return out


def _openings(closers: tuple[str, ...], body: str, section: str, indented: bool) -> list[str]:
    """List the plausible texts to put before a fragment, most likely first.

    tree-sitter-c accepts statements at file scope, so a bare fragment may parse cleanly and
    still be wrong: when the ``@@`` section names a function, its body is the likelier home.
    """
    name = section_function(section)
    params = section_parameters(section) if name else "void"
    first = next((x.strip() for x in body.splitlines() if x.strip()), "")
    candidates = []
    if closers and "}" in closers:
        if name and indented:  # the hunk starts inside a block of the @@ function
            candidates.append(f"void {name}({params}) {{ " + " ".join(
                CLOSERS[c] for c in reversed(closers)))
        if params != "void":
            candidates.append(_opening(closers, section, params=True))
        candidates.append(_opening(closers, section))
    elif closers:  # inside a statement: of the @@ function if there is one
        if name:
            if params != "void":
                candidates.append(f"void {name}({params}) {{ " + _opening(closers, ""))
            candidates.append(f"void {name}(void) {{ " + _opening(closers, ""))
        candidates.append(_opening(closers, section))
    elif name and first == "{":
        if params != "void":
            candidates.append(f"void {name}({params})")
        candidates.append(f"void {name}(void)")  # the hunk starts at the function's body
    else:
        if FUNC_NAME_RE.match(first) and not first.endswith(";"):
            candidates.append("void")  # a definition whose return type is above the hunk
        if name:
            if params != "void":
                candidates.append(f"void {name}({params}) {{")
            candidates.append(f"void {name}(void) {{")
        candidates.append("")
    if lexer.starts_in_comment(body):  # the hunk starts inside a comment
        candidates = [f"{c} /*" for c in candidates]
    return candidates


@dataclass(frozen=True, slots=True)
class Balanced:
    """A fragment made parseable: the synthetic lines around it, the parse's error count,
    and the function its last line is still inside, if the balancing closed one."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    errors: int
    open_in: str | None
    gap: str = ""  # the synthetic line standing for code between two joined hunks


def balance(rows: Sequence[str], section: str) -> Balanced:
    """Balance a hunk fragment so it parses: each plausible opening is tried, the one that
    parses with the fewest errors wins (ties go to the likeliest)."""
    body = "\n".join(rows)
    lexed = lexer.balance(body)
    best: tuple[int, str, str, tree_sitter.Tree] | None = None
    for before in _openings(lexed.closers, body, section, lexed.indented):
        framed = lexer.balance(before + "\n" + body)
        after = _closing(body, framed.opened, framed.state)
        text = f"{before}\n{body}\n{after}".encode("utf-8", "surrogateescape")
        tree = cparse.parse(text)
        errors = cparse.error_count(tree.root_node)
        if best is None or errors < best[0]:
            best = (errors, before, after, tree)
        if errors == 0:
            break
    assert best is not None
    errors, before, after, tree = best
    head = (before,) if before else ()
    last = len(head) + len(rows) - 1
    return Balanced(head, (after,) if after else (), errors, _function_open_at(tree, last))


def fragment(rows: Sequence[str], section: str) -> tuple[list[str], list[str]]:
    """Return the synthetic lines to put before and after a hunk fragment so it parses."""
    found = balance(rows, section)
    return list(found.before), list(found.after)


def _function_open_at(tree: tree_sitter.Tree, row: int) -> str | None:
    """Return the function a row is inside whose closing brace comes after it (synthetic)."""
    node: Node | None = tree.root_node.descendant_for_point_range((row, 0), (row, 0))
    while node is not None and node.type != "function_definition":
        node = node.parent
    if node is None or node.end_point.row <= row:
        return None
    declarator = node.child_by_field_name("declarator")
    while declarator is not None and declarator.type != "function_declarator":
        declarator = declarator.child_by_field_name("declarator")
    name = declarator.child_by_field_name("declarator") if declarator is not None else None
    return name.text.decode("utf-8", "replace") if name is not None and name.text else None


def _fragments(hunks: Iterable[Hunk], side: LineKind
               ) -> list[tuple[list[Line | None], Balanced]]:
    """Return a file's fragments on one side, each balanced.

    A hunk that ends inside a function is joined by the next hunk when git names the same
    function for it, and the two parse no worse together than apart: a check in the first
    hunk then still guards what the second one shows."""
    out: list[tuple[list[Line | None], Balanced]] = []
    section = ""
    for hunk in hunks:
        kept: list[Line | None] = [x for x in hunk.lines if x.kind in (LineKind.CONTEXT, side)]
        alone = balance([x.text for x in kept if x is not None], hunk.section)
        dangling = _dangling_head(out[-1][0]) if out else None
        if out and len(out[-1][0]) < MAX_JOINED_ROWS and \
                section_function(hunk.section) in {out[-1][1].open_in, dangling} - {None}:
            best = _join(out[-1][0], kept, section,
                         BODY_FILLERS if dangling == section_function(hunk.section)
                         else GAP_FILLERS)
            if best is not None and best[1].errors <= out[-1][1].errors + alone.errors:
                out[-1] = best
                continue
        section = hunk.section
        out.append((kept, alone))
    return out


GAP_FILLERS = ("", ";", "; {", "; { {", "; { { {")
# Joining re-balances the whole fragment: past this many rows a function's next hunk stands
# alone, so a patch of many hunks in one function costs no more than the hunks apart.
MAX_JOINED_ROWS = 200
BODY_FILLERS = ("{", "{ {", "{ { {", "{ { { {")  # after a function head: its body opens


def _dangling_head(rows: list[Line | None]) -> str | None:
    """Return the function whose head a fragment ends with, its body left to the next hunk
    (``static int`` / ``name(args,`` / ``args)`` as the trailing context)."""
    texts = [x.text for x in rows if x is not None and x.text.strip()]
    if not texts or not texts[-1].rstrip().endswith(")"):
        return None
    tail = "\n".join(texts[-3:])
    names = [m.group(1) for m in FUNC_NAME_RE.finditer(tail)
             if m.group(1) not in {"if", "for", "while", "switch", "return", "sizeof"}]
    return names[0] if names and not texts[-1].lstrip().startswith(("if", "for", "while"))\
        else None


def _join(group: list[Line | None], kept: list[Line | None], section: str,
          fillers: tuple[str, ...] = GAP_FILLERS) -> tuple[list[Line | None], Balanced] | None:
    """Join a hunk to the fragment before it across the lines git did not show: the gap
    becomes one synthetic line that opens the blocks the hunk closes (``if (x) {`` … ``}``
    with the ``if`` in the gap), whichever parses best."""
    best: tuple[tuple[int, int], list[Line | None], Balanced] | None = None
    for filler in fillers:
        rows = [*group, None, *kept] if filler else [*group, *kept]
        texts = [filler if x is None else x.text for x in rows]
        found = replace(balance(texts, section), gap=filler)
        # Fewest errors, then fewest blocks the balancing had to open before the fragment:
        # the gap, not a synthetic brace, should hold what the hunks do not show.
        rank = (found.errors, len(lexer.balance("\n".join(texts)).closers))
        if best is None or rank < best[0]:
            best = (rank, rows, found)
        if rank == (0, 0):
            break
    return (best[1], best[2]) if best is not None else None


def hunk_image(hunks: Iterable[Hunk], path: str, side: LineKind) -> SourceUnit:
    """Build the image of a file's hunks on one side (REMOVED: pre-image, ADDED: post-image)."""
    rows: list[str] = []
    line_map: list[int | None] = []
    touched: set[float] = set()
    hunks = list(hunks)
    for kept, balanced in _fragments(hunks, side):
        before, after = list(balanced.before), list(balanced.after)
        texts = [x.text if x is not None else balanced.gap for x in kept]
        numbers = [None if x is None else x.old if side is LineKind.REMOVED else x.new
                   for x in kept]
        rows += before
        line_map += [None] * len(before)
        rows += texts
        line_map += numbers
        rows += after
        line_map += [None] * len(after)
    for hunk in hunks:
        touched |= touched_lines(hunk, side)
    text = "\n".join(rows) + "\n"
    return SourceUnit(path, text.encode("utf-8", "surrogateescape"), Origin.HUNKS,
                      tuple(line_map), frozenset(touched))


def touched_lines(hunk: Hunk, side: LineKind) -> set[float]:
    """Return where a hunk changes one image: the lines it changes there, and, for lines only
    the other image has, the gap they leave between two lines of this one: ``n + 0.5`` lies
    between lines ``n`` and ``n + 1``. A function holds a gap only when the lines on both
    sides of it are its own, so a comment added above a function, or a function added after
    another, touches neither."""
    touched: set[float] = set()
    lines = hunk.lines

    def own(line: Line) -> int | None:
        return line.old if side is LineKind.REMOVED else line.new

    for i, line in enumerate(lines):
        if line.kind is side:
            if (n := own(line)) is not None:
                touched.add(n)
        elif line.kind is not LineKind.CONTEXT:  # a line only the other image has
            before = next((own(x) for x in reversed(lines[:i]) if x.kind in (LineKind.CONTEXT, side)), None)
            after = next((own(x) for x in lines[i + 1:] if x.kind in (LineKind.CONTEXT, side)), None)
            if before is not None:
                touched.add(before + 0.5)
            elif after is not None:
                touched.add(after - 0.5)
    return touched


def hunk_pair(filediff: FileDiff) -> UnitPair:
    """Build both hunk images of one file diff."""
    pre = None if filediff.old_path is None else hunk_image(
        filediff.hunks, filediff.old_path, LineKind.REMOVED)
    post = None if filediff.new_path is None else hunk_image(
        filediff.hunks, filediff.new_path, LineKind.ADDED)
    return UnitPair(filediff.path, pre, post)


@dataclass(frozen=True, slots=True)
class Tree:
    """The tree an image was read from: its definitions, and how the text was found."""

    definitions: Definitions = NO_DEFINITIONS
    context: str = "tree"


NO_TREE = Tree(NO_DEFINITIONS, "")


def file_pair(filediff: FileDiff, pre: bytes | None, post: bytes | None,
              pre_tree: Tree = NO_TREE, post_tree: Tree = NO_TREE) -> UnitPair:
    """Pair the whole pre-image and post-image of a file, marking the lines its hunks touch;
    each image knows the tree it was read from."""
    def unit(path: str | None, text: bytes | None, side: LineKind,
             tree: Tree) -> SourceUnit | None:
        if path is None or text is None:
            return None
        touched = set().union(*(touched_lines(h, side) for h in filediff.hunks))
        return SourceUnit(path, text, Origin.FILE, (), frozenset(touched), tree.definitions,
                          tree.context)

    return UnitPair(filediff.path, unit(filediff.old_path, pre, LineKind.REMOVED, pre_tree),
                    unit(filediff.new_path, post, LineKind.ADDED, post_tree))


def file_unit(path: str, text: bytes, tree: Tree = NO_TREE) -> SourceUnit:
    """Wrap a whole C file as a unit (``tree``: the repository it sits in, if any)."""
    return SourceUnit(path, text, Origin.FILE, definitions=tree.definitions,
                      context=tree.context or "file")
