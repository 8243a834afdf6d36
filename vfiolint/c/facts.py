"""C-level facts about one parsed unit: functions, the same-file call graph, declarations,
typedefs, struct fields and the width class of a type.

Predicates ask these questions; a Facts object is built once per parsed unit and answers from
caches, so a rule that asks "does any function around this one check the page size?" costs one
walk of each function at most.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node, Tree

from vfiolint.c import external
from vfiolint.c.definitions import NO_DEFINITIONS, Definitions

IDENT_TYPES = frozenset(
    {"identifier", "field_identifier", "type_identifier", "primitive_type", "number_literal"}
)

# Types that are 32 bits or less on every Linux host.
NARROW_TYPES = frozenset(
    ["int", "unsigned", "signed", "short", "char", "bool", "_Bool", "uint32_t", "int32_t", "uint16_t", "int16_t", "uint8_t", "int8_t", "u32", "s32", "u16", "s16", "u8", "s8", "__u32", "__s32", "__u16", "__s16", "__u8", "__s8", "__le32", "__be32", "__le16", "__be16", "guint32", "gint32", "guint", "gint", "uint32", "int32", "uint16", "uint8", "unsigned_int"]
)
# Types as wide as a pointer: 32 bits on 32-bit hosts.
WORD_TYPES = frozenset(
    ["long", "size_t", "ssize_t", "uintptr_t", "intptr_t", "ptrdiff_t", "resource_size_t", "phys_addr_t", "dma_addr_t", "ulong", "gsize", "gssize"]
)
WIDE_TYPES = frozenset(
    ["uint64_t", "int64_t", "u64", "s64", "__u64", "__s64", "__le64", "__be64", "__aligned_u64", "off_t", "off64_t", "loff_t", "hwaddr", "ram_addr_t", "uint64", "int64", "guint64", "gint64", "__int128", "rte_iova_t", "iova_t"]
)
QUALIFIERS = frozenset(
    ["const", "volatile", "static", "extern", "register", "inline", "restrict", "__restrict", "struct", "union"]
)


def text_of(node: Node) -> str:
    """Return a node's source text."""
    return (node.text or b"").decode("utf-8", "replace")


def squash(text: str) -> str:
    """Collapse white space, and drop it where it separates no two words."""
    text = " ".join(text.split())
    return re.sub(r"\s*([^\w\s])\s*", r"\1", text)


def declarator_name(node: Node | None) -> str | None:
    """Follow a declarator chain (pointer, array, function, init) to the declared name."""
    while node is not None:
        if node.type in {"identifier", "field_identifier", "type_identifier"}:
            return text_of(node)
        node = node.child_by_field_name("declarator")
    return None


def function_name(fn: Node) -> str | None:
    """Return the name a function_definition defines."""
    return declarator_name(fn.child_by_field_name("declarator"))


def enclosing(node: Node, kind: str) -> Node | None:
    """Return the nearest ancestor of a given type."""
    current = node.parent
    while current is not None:
        if current.type == kind:
            return current
        current = current.parent
    return None


def width_class(type_text: str) -> str | None:
    """Classify a base type: ``narrow`` (<= 32 bits), ``word`` (pointer-wide), ``wide`` (64)."""
    words = [w for w in re.findall(r"[A-Za-z_]\w*", type_text) if w not in QUALIFIERS]
    if not words:
        return None
    if words.count("long") >= 2 or any(w in WIDE_TYPES for w in words):
        return "wide"
    if any(w in WORD_TYPES for w in words):
        return "word"
    if all(w in NARROW_TYPES for w in words) or any(
        w in NARROW_TYPES - {"unsigned", "signed"} for w in words
    ):
        return "narrow"
    return None


@dataclass(frozen=True, slots=True)
class Declared:
    """A declared name: its base type node and the declarator (pointers, arrays) around it."""

    type_node: Node
    declarator: Node

    @property
    def pointer(self) -> bool:
        """Tell whether the name is a pointer."""
        return "pointer_declarator" in _declarator_kinds(self.declarator)

    @property
    def array(self) -> bool:
        """Tell whether the name is an array."""
        return "array_declarator" in _declarator_kinds(self.declarator)


def _declarator_kinds(node: Node) -> list[str]:
    """List the declarator node types from the outside in."""
    kinds = []
    current: Node | None = node
    while current is not None and current.type not in {"identifier", "field_identifier"}:
        kinds.append(current.type)
        current = current.child_by_field_name("declarator")
    return kinds


def _assigned(node: Node) -> bool:
    """Tell whether a node lies on the left-hand side of an assignment."""
    child, parent = node, node.parent
    while parent is not None and parent.type in {"subscript_expression", "field_expression",
                                                   "parenthesized_expression",
                                                   "pointer_expression"}:
        if parent.type == "subscript_expression" and child == parent.child_by_field_name("index"):
            return False
        child, parent = parent, parent.parent
    return (parent is not None and parent.type == "assignment_expression"
            and child == parent.child_by_field_name("left"))


def _declared_names(decl: Node) -> Iterator[tuple[str, Node]]:
    """Yield (name, declarator) for each name a declaration or parameter declares."""
    for child in decl.children_by_field_name("declarator"):
        name = declarator_name(child)
        if name:
            yield name, child


@dataclass
class Facts:
    """Answers questions about one parsed unit, caching what it learns."""

    tree: Tree
    # the tree around the unit, asked for types the unit does not define (``c/external.py``)
    definitions: Definitions = NO_DEFINITIONS
    near: str = ""
    _functions: list[Node] | None = None
    _by_name: dict[str, list[Node]] = field(default_factory=dict)
    _tokens: dict[int, frozenset[str]] = field(default_factory=dict)
    _callees: dict[int, frozenset[str]] = field(default_factory=dict)
    _records: dict[str, list[Node]] | None = None
    _typedefs: dict[str, Node] | None = None
    _declared: dict[int, dict[str, Declared]] = field(default_factory=dict)

    @property
    def root(self) -> Node:
        """Return the root node."""
        return self.tree.root_node

    def functions(self) -> list[Node]:
        """Return every function definition, in order."""
        if self._functions is None:
            self._functions = [n for n in self.walk(self.root) if n.type == "function_definition"]
            for fn in self._functions:
                name = function_name(fn)
                if name:
                    self._by_name.setdefault(name, []).append(fn)
        return self._functions

    def by_name(self, name: str) -> list[Node]:
        """Return the definitions of a function of this unit."""
        self.functions()
        return self._by_name.get(name, [])

    @staticmethod
    def walk(node: Node) -> Iterator[Node]:
        """Yield a node and all its descendants, in document order."""
        cursor = node.walk()
        reached = False
        while True:
            if not reached:
                yield cursor.node  # type: ignore[misc]
            if not reached and cursor.goto_first_child():
                continue
            if cursor.goto_next_sibling():
                reached = False
                continue
            if not cursor.goto_parent() or cursor.node == node:
                return
            reached = True

    def tokens(self, node: Node) -> frozenset[str]:
        """Return the identifiers, type names and numbers below a node (no comments, strings)."""
        key = node.id
        if key not in self._tokens:
            self._tokens[key] = frozenset(
                text_of(n) for n in self.walk(node) if n.type in IDENT_TYPES
            )
        return self._tokens[key]

    def callees(self, fn: Node) -> frozenset[str]:
        """Return the names of the functions a function calls directly by name."""
        if fn.id not in self._callees:
            names = set()
            for n in self.walk(fn):
                if n.type == "call_expression":
                    callee = n.child_by_field_name("function")
                    if callee is not None and callee.type == "identifier":
                        names.add(text_of(callee))
            self._callees[fn.id] = frozenset(names)
        return self._callees[fn.id]

    def function_of(self, node: Node) -> Node | None:
        """Return the function definition around a node."""
        return enclosing(node, "function_definition")

    def neighbourhood(self, fn: Node | None, depth: int = 2) -> list[Node]:
        """Return a function with the same-unit functions it calls and that call it, to ``depth``.

        A hazard and its guard are often split between a function and its helper or caller.
        """
        if fn is None:
            return [self.root]
        seen = {fn.id: fn}
        frontier = [fn]
        for _ in range(depth):
            nxt = []
            for current in frontier:
                near = [d for name in self.callees(current) for d in self.by_name(name)]
                own = function_name(current)
                if own:
                    near += [f for f in self.functions() if own in self.callees(f)]
                for other in near:
                    if other.id not in seen:
                        seen[other.id] = other
                        nxt.append(other)
            frontier = nxt
        return list(seen.values())

    def around_has(self, node: Node, pattern: re.Pattern[str], depth: int = 2) -> bool:
        """Tell whether a token matching ``pattern`` appears in the node's function neighbourhood."""
        return any(
            pattern.search(tok)
            for fn in self.neighbourhood(self.function_of(node), depth)
            for tok in self.tokens(fn)
        )

    def around_reads(self, node: Node, pattern: re.Pattern[str], depth: int = 2) -> bool:
        """Tell whether an identifier matching ``pattern`` is read (not only assigned to) in the
        node's function neighbourhood."""
        for fn in self.neighbourhood(self.function_of(node), depth):
            if not any(pattern.search(t) for t in self.tokens(fn)):
                continue
            for n in self.walk(fn):
                if n.type in {"identifier", "field_identifier"} and pattern.search(text_of(n)) \
                        and not _assigned(n):
                    return True
        return False

    # Declarations ---------------------------------------------------------------------------

    def lookup(self, name: str, at: Node) -> Declared | None:
        """Find the declaration of a variable visible at a node: function scope, then file."""
        fn = self.function_of(at)
        if fn is not None:
            found = self._declarations(fn).get(name)
            if found is not None:
                return found
        return self._declarations(self.root).get(name)

    def _declarations(self, place: Node) -> dict[str, Declared]:
        """Index the names a function (parameters and locals) or the file scope declares; the
        first declaration of a name wins, as the nearest one would in a walk."""
        cached = self._declared.get(place.id)
        if cached is not None:
            return cached
        table: dict[str, Declared] = {}
        for decl in self.walk(place):
            if decl.type not in {"declaration", "parameter_declaration"}:
                continue
            if place.id == self.root.id and self.function_of(decl) is not None:
                continue
            type_node = decl.child_by_field_name("type")
            if type_node is None:
                continue
            for found, declarator in _declared_names(decl):
                table.setdefault(found, Declared(type_node, declarator))
        self._declared[place.id] = table
        return table

    def records(self) -> dict[str, list[Node]]:
        """Return the struct and union bodies of the unit by tag (anonymous ones under "")."""
        if self._records is None:
            self._records = {}
            for n in self.walk(self.root):
                if n.type in {"struct_specifier", "union_specifier"} and n.child_by_field_name(
                    "body"
                ):
                    tag = n.child_by_field_name("name")
                    self._records.setdefault(text_of(tag) if tag else "", []).append(n)
        return self._records

    def typedefs(self) -> dict[str, Node]:
        """Return the unit's typedefs: name -> type_definition node."""
        if self._typedefs is None:
            self._typedefs = {}
            for n in self.walk(self.root):
                if n.type == "type_definition":
                    for d in n.children_by_field_name("declarator"):
                        name = declarator_name(d)
                        if name:
                            self._typedefs[name] = n
        return self._typedefs

    def record_of(self, type_node: Node) -> Node | None:
        """Return the struct body a type names: inline, by tag, or through a typedef."""
        for _ in range(5):
            if type_node.type in {"struct_specifier", "union_specifier"}:
                if type_node.child_by_field_name("body") is not None:
                    return type_node
                tag = type_node.child_by_field_name("name")
                bodies = self.records().get(text_of(tag), []) if tag else []
                if not bodies and tag is not None:  # declared in a header: ask the tree
                    return external.record_node(self.definitions, text_of(tag), self.near)
                return bodies[0] if bodies else None
            if type_node.type == "type_identifier":
                tdef = self.typedefs().get(text_of(type_node))
                inner = tdef.child_by_field_name("type") if tdef else None
                if inner is None:
                    # QEMU's convention: typedef struct Foo Foo; in a header, the body here.
                    bodies = self.records().get(text_of(type_node), [])
                    if not bodies and tdef is None:  # a typedef of a header: ask the tree
                        return external.typedef_record(self.definitions, text_of(type_node),
                                                       self.near)
                    return bodies[0] if bodies else None
                type_node = inner
                continue
            return None
        return None

    def field_in(self, record: Node, name: str) -> Declared | None:
        """Find a field of a struct body."""
        body = record.child_by_field_name("body")
        if body is None:
            return None
        for decl in body.children:
            if decl.type != "field_declaration":
                continue
            type_node = decl.child_by_field_name("type")
            for found, declarator in _declared_names(decl):
                if found == name and type_node is not None:
                    return Declared(type_node, declarator)
        return None

    def any_field(self, name: str) -> list[Declared]:
        """Find a field by name in every struct of the unit."""
        found = []
        for bodies in self.records().values():
            for record in bodies:
                hit = self.field_in(record, name)
                if hit:
                    found.append(hit)
        return found

    def type_text(self, type_node: Node) -> str:
        """Return a base type's text with typedefs of this unit resolved."""
        text = text_of(type_node)
        for _ in range(5):
            tdef = self.typedefs().get(text.strip())
            inner = tdef.child_by_field_name("type") if tdef else None
            if tdef is None and width_class(text) is None:  # a typedef of a header?
                outer = external.typedef_text(self.definitions, text.strip(), self.near)
                if outer is not None:
                    text = outer
                    continue
            if inner is None or tdef is None:
                return text
            declarator = tdef.child_by_field_name("declarator")
            if declarator is not None and declarator.type != "type_identifier":
                return text  # a typedef of a pointer or an array: not the base type
            text = text_of(inner)
        return text

    def type_of(self, expr: Node) -> Declared | None:
        """Infer the declaration behind an lvalue: a variable, a struct member, an element."""
        if expr.type == "parenthesized_expression" and expr.named_child_count:
            return self.type_of(expr.named_children[0])
        if expr.type == "identifier":
            return self.lookup(text_of(expr), expr)
        if expr.type == "subscript_expression":
            base = expr.child_by_field_name("argument")
            return self.type_of(base) if base is not None else None
        if expr.type == "pointer_expression":
            inner = expr.child_by_field_name("argument")
            return self.type_of(inner) if inner is not None else None
        if expr.type == "field_expression":
            field_node = expr.child_by_field_name("field")
            base = expr.child_by_field_name("argument")
            if field_node is None or base is None:
                return None
            name = text_of(field_node)
            owner = self.type_of(base)
            if owner is not None:
                record = self.record_of(owner.type_node)
                return self.field_in(record, name) if record is not None else None
            # The owner's declaration is out of sight (a hunk): a field name that only one
            # struct of the unit declares is taken to be that struct's.
            candidates = self.any_field(name)
            return candidates[0] if len(candidates) == 1 else None
        return None
