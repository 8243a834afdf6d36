"""Facts about one parsed unit, for rules and predicates: one object that holds the unit's
symbols (names and types), call graph, value flow and guards, built lazily and cached.

A rule asks its questions here; nothing is computed for a function no rule's anchor touches.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from tree_sitter import Node, Tree

from vfiolint.c import cparse
from vfiolint.c.calls import CallGraph
from vfiolint.c.definitions import NO_DEFINITIONS, Definitions
from vfiolint.c.flow import Flow
from vfiolint.c.guards import Guard, condition_atoms, guards_of
from vfiolint.c.symbols import Symbols
from vfiolint.c.syntax import is_lvalue, text_of, walk

IDENT_TYPES = frozenset(
    {"identifier", "field_identifier", "type_identifier", "primitive_type", "number_literal"}
)


@dataclass
class Facts:
    """Answers questions about one parsed unit, caching what it learns."""

    tree: Tree
    path: str = ""
    definitions: Definitions = NO_DEFINITIONS
    _tokens: dict[int, frozenset[str]] = field(default_factory=dict)
    _guards: dict[int, list[Guard]] = field(default_factory=dict)

    @property
    def root(self) -> Node:
        """Return the root node."""
        return self.tree.root_node

    @cached_property
    def symbols(self) -> Symbols:
        """Return the unit's names and types."""
        return Symbols(self.tree, self.path, self.definitions)

    @cached_property
    def calls(self) -> CallGraph:
        """Return the unit's call graph."""
        return CallGraph(self.symbols)

    @cached_property
    def flow(self) -> Flow:
        """Return the unit's value flow."""
        return Flow(self.symbols, self.calls)

    def function_of(self, node: Node) -> Node | None:
        """Return the function definition around a node."""
        return self.symbols.function_of(node)

    @cached_property
    def _items(self) -> tuple[list[Node], list[int], bytes]:
        """Return the unit's file-scope items, their start bytes, and the parsed text from the
        root's first byte on."""
        items = self.root.children
        return items, [n.start_byte for n in items], self.root.text or b""

    @cached_property
    def _folded(self) -> bytes:
        """Return the parsed text in lower case (ASCII)."""
        return self._items[2].lower()

    def items_holding(self, texts: tuple[bytes, ...], fold: bool = False) -> set[int]:
        """Return the indexes of the file-scope items (functions, declarations, preprocessor
        blocks) whose text holds one of ``texts`` (compared case-blind with ``fold``)."""
        items, starts, text = self._items
        hay = self._folded if fold else text
        base = self.root.start_byte  # the root's text starts at its first item
        found: set[int] = set()
        for needle in texts:
            at = hay.find(needle)
            while at != -1:
                k = bisect.bisect_right(starts, base + at) - 1
                if k >= 0 and base + at + len(needle) <= items[k].end_byte:
                    found.add(k)
                    at = hay.find(needle, items[k].end_byte - base)
                else:
                    at = hay.find(needle, at + 1)
        return found

    def items(self, indexes: Iterable[int]) -> list[Node]:
        """Return file-scope items by index, in document order."""
        items = self._items[0]
        return [items[k] for k in sorted(indexes)]

    def place_of(self, node: Node) -> Node:
        """Return the function around a node or, outside functions, the file-scope item that
        holds it (a declaration, a preprocessor block): a query match around the node lies
        within it, so a question about the node's surroundings is asked of that place only."""
        fn = self.function_of(node)
        if fn is not None:
            return fn
        up = self.symbols.parent
        current = node
        while (parent := up(current)) is not None and parent.id != self.root.id:
            current = parent
        return current

    def guards(self, node: Node) -> list[Guard]:
        """Return the guards under which a node runs, within its function (cached)."""
        found = self._guards.get(node.id)
        if found is None:
            found = self._guards[node.id] = guards_of(node, self.symbols.parent)
        return found

    def tokens(self, node: Node) -> frozenset[str]:
        """Return the identifiers, type names and numbers below a node (no comments, strings)."""
        key = node.id
        if key not in self._tokens:
            self._tokens[key] = frozenset(text_of(n) for n in cparse.nodes_of(node, IDENT_TYPES))
        return self._tokens[key]

    def neighbourhood(self, node: Node, depth: int = 2) -> list[Node]:
        """Return the function around a node with the unit's functions it calls and that call
        it, ``depth`` steps each way (the whole unit for a node outside any function)."""
        return self.calls.neighbourhood(self.function_of(node), depth)

    def around_has(self, node: Node, pattern: re.Pattern[str], depth: int = 2) -> bool:
        """Tell whether a token matching ``pattern`` appears in the node's neighbourhood."""
        return any(pattern.search(tok) for fn in self.neighbourhood(node, depth)
                   for tok in self.tokens(fn))

    def around_reads(self, node: Node, pattern: re.Pattern[str], depth: int = 2) -> bool:
        """Tell whether an identifier matching ``pattern`` is read (not only assigned to) in
        the node's neighbourhood."""
        for fn in self.neighbourhood(node, depth):
            if not any(pattern.search(t) for t in self.tokens(fn)):
                continue
            for n in walk(fn):
                if n.type in {"identifier", "field_identifier"} and pattern.search(text_of(n)):
                    target = n.parent if n.type == "field_identifier" and n.parent else n
                    if not is_lvalue(target):
                        return True
        return False

    def helper_conditions(self, atom: Node) -> list[Node]:
        """Return what a condition atom means when it calls the unit's own helpers: the
        helpers' returned expressions and the conditions they test (one level deep)."""
        out: list[Node] = []
        for call in walk(atom):
            if call.type != "call_expression":
                continue
            callee = call.child_by_field_name("function")
            if callee is None or callee.type != "identifier":
                continue
            for fn in self.symbols.by_name(text_of(callee))[:1]:
                for n in walk(fn):
                    if n.type == "return_statement" and n.named_children:
                        out += condition_atoms(n.named_children[0])
                    elif n.type == "if_statement":
                        cond = n.child_by_field_name("condition")
                        if cond is not None:
                            out += condition_atoms(cond)
        return out
