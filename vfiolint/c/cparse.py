"""tree-sitter-c construction, cached: Language, Parser and Query, and ``parse(bytes) -> Tree``.

Rows and columns are 0-based here, as tree-sitter gives them; everything outside this module and
``Span.from_node`` speaks 1-based lines.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from functools import cache

import tree_sitter
import tree_sitter_c


@cache
def language() -> tree_sitter.Language:
    """Return the C language object."""
    return tree_sitter.Language(tree_sitter_c.language())


@cache
def parser() -> tree_sitter.Parser:
    """Return a C parser."""
    return tree_sitter.Parser(language())


@cache
def query(text: str) -> tree_sitter.Query:
    """Compile a query once per text (raises tree_sitter.QueryError)."""
    return tree_sitter.Query(language(), text)


def nodes_of(root: tree_sitter.Node, kinds: Iterable[str]) -> list[tree_sitter.Node]:
    """Return the nodes of some kinds at or below ``root``, in document order (parents before
    their children): one query, walked by tree-sitter rather than node by node in Python."""
    found = tree_sitter.QueryCursor(_kinds_query(tuple(sorted(kinds)))).captures(root)
    return sorted(found.get("n", []), key=lambda n: (n.start_byte, -n.end_byte))


@cache
def _kinds_query(kinds: tuple[str, ...]) -> tree_sitter.Query:
    """Compile the query that captures every node of some kinds."""
    return query("[" + " ".join(f"({kind})" for kind in kinds) + "] @n")


RECENT = 4  # parses kept to start the next one from
MIN_REUSED = 4096  # bytes shared with an earlier text, at least, for its tree to be reused
_recent: deque[tuple[bytes, tree_sitter.Tree]] = deque(maxlen=RECENT)


def parse(source: bytes) -> tree_sitter.Tree:
    """Parse C source bytes.

    A text that shares most of its bytes with one of the last few parsed (a commit's
    post-image after its pre-image; the same image with a few more macros known) is parsed
    incrementally from that tree: tree-sitter reuses the subtrees outside the changed bytes
    and gives the tree a parse from scratch gives (``VFIOLINT_CHECK_REPARSE=1`` checks it on
    every such parse)."""
    start = _closest(source)
    if start is None:
        tree = parser().parse(source)
    else:
        tree = parser().parse(source, start)
        if os.environ.get("VFIOLINT_CHECK_REPARSE"):
            fresh = parser().parse(source)
            if str(fresh.root_node) != str(tree.root_node):
                raise AssertionError("an incremental parse differs from a parse from scratch")
    _recent.append((source, tree))
    return tree


def _closest(source: bytes) -> tree_sitter.Tree | None:
    """Return a copy of the recent tree whose text differs least from ``source``, edited to
    say which bytes changed (one edit: from the first differing byte to the last), or None
    when no recent text shares enough with it."""
    best: tuple[int, bytes, tree_sitter.Tree, int, int] | None = None
    for old, tree in _recent:
        head = _shared_head(old, source)
        tail = _shared_tail(old, source, head)
        if head + tail >= MIN_REUSED and head + tail > len(source) // 2 and \
                (best is None or head + tail > best[0]):
            best = (head + tail, old, tree, head, tail)
    if best is None:
        return None
    _, old, tree, head, tail = best
    edited = tree.copy()
    edited.edit(start_byte=head, old_end_byte=len(old) - tail, new_end_byte=len(source) - tail,
                start_point=_point(source, head), old_end_point=_point(old, len(old) - tail),
                new_end_point=_point(source, len(source) - tail))
    return edited


def _shared_head(a: bytes, b: bytes) -> int:
    """Return the length of the longest common prefix of two texts (a binary search of
    slice comparisons: each one a copy and a memcmp)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _shared_tail(a: bytes, b: bytes, head: int) -> int:
    """Return the length of the longest common suffix of two texts that does not overlap
    their common prefix of ``head`` bytes."""
    lo, hi = 0, min(len(a), len(b)) - head
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[len(a) - mid:] == b[len(b) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _point(text: bytes, offset: int) -> tuple[int, int]:
    """Return the (row, byte column) of an offset, as tree-sitter counts them."""
    row = text.count(b"\n", 0, offset)
    return row, offset - (text.rfind(b"\n", 0, offset) + 1)


def valid_utf8(text: bytes) -> bytes:
    """Replace each byte that is not UTF-8 with ``?``: the same length, so every offset holds,
    and tree-sitter never meets capture text it cannot decode."""
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return text.decode("utf-8", "surrogateescape").encode("utf-8", "replace")
    return text


def error_nodes(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    """Yield the ERROR and MISSING nodes below ``node`` (none for a clean parse)."""
    if not node.has_error:
        return
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_error or current.is_missing:
            yield current
        stack.extend(c for c in current.children if c.has_error or c.is_missing)


def error_count(node: tree_sitter.Node) -> int:
    """Count ERROR and MISSING nodes below ``node`` (0 for a clean parse)."""
    return sum(1 for _ in error_nodes(node))
