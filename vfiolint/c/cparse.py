"""tree-sitter-c construction, cached: Language, Parser and Query, and ``parse(bytes) -> Tree``.

Rows and columns are 0-based here, as tree-sitter gives them; everything outside this module and
``Span.from_node`` speaks 1-based lines.
"""

from __future__ import annotations

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


def parse(source: bytes) -> tree_sitter.Tree:
    """Parse C source bytes."""
    return parser().parse(source)


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
