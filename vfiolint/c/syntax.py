"""Small pure questions about tree-sitter C nodes: text, names, walking, operators, calls."""

from __future__ import annotations

import re
from collections.abc import Iterator

from tree_sitter import Node

ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "|", "&", "^", "<<", ">>"})
COMPARISONS = frozenset({"==", "!=", "<", ">", "<=", ">="})
LOGICAL = frozenset({"&&", "||"})
NAME_TYPES = frozenset({"identifier", "field_identifier", "type_identifier"})
EXITS = frozenset({"return_statement", "goto_statement", "continue_statement",
                   "break_statement"})


def text_of(node: Node | None) -> str:
    """Return a node's source text (never raises on odd bytes)."""
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


def squash(text: str) -> str:
    """Normalise white space: one space between words, none around punctuation.

    Used for fingerprints, so that re-indenting or re-wrapping a line keeps its identity."""
    text = " ".join(text.split())
    return re.sub(r"\s*([^\w\s])\s*", r"\1", text)


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


def parents_below(root: Node, skip: frozenset[str] = frozenset()) -> dict[int, Node]:
    """Map every node below ``root`` to its parent, in one cursor walk; a node of a ``skip``
    kind is mapped, and what lies below it is not.

    tree-sitter finds a node's parent by walking down from the root, so climbing a deep tree
    with ``.parent`` costs the square of its depth; this map makes each step constant."""
    out: dict[int, Node] = {}
    stack: list[Node] = []
    cursor = root.walk()
    while True:
        node = cursor.node
        assert node is not None
        if stack:
            out[node.id] = stack[-1]
        if (not stack or node.type not in skip) and cursor.goto_first_child():
            stack.append(node)
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return out
            stack.pop()
            if cursor.node == root:
                return out


def declarator_name(node: Node | None) -> str | None:
    """Follow a declarator chain (pointer, array, function, init) to the declared name."""
    while node is not None:
        if node.type in NAME_TYPES:
            return text_of(node)
        if node.type == "parenthesized_declarator" and node.named_child_count:
            node = node.named_children[0]
            continue
        node = node.child_by_field_name("declarator")
    return None


def declarator_kinds(node: Node | None) -> list[str]:
    """List the declarator node types around a name, from the outside in."""
    kinds = []
    while node is not None and node.type not in NAME_TYPES:
        kinds.append(node.type)
        if node.type == "parenthesized_declarator" and node.named_child_count:
            node = node.named_children[0]
            continue
        node = node.child_by_field_name("declarator")
    return kinds


def function_name(fn: Node) -> str | None:
    """Return the name a function_definition defines."""
    return declarator_name(fn.child_by_field_name("declarator"))


def function_declarator(fn: Node) -> Node | None:
    """Return the function_declarator of a definition (below any pointer declarators)."""
    node = fn.child_by_field_name("declarator")
    while node is not None and node.type != "function_declarator":
        node = node.child_by_field_name("declarator")
    return node


def head_row(fn: Node) -> int:
    """Return the row of a function definition's name (its head: the return type may stand
    on a line of its own, or be supplied by a hunk image)."""
    declarator = function_declarator(fn)
    return (declarator or fn).start_point.row


def parameters(fn: Node) -> list[Node]:
    """Return a function definition's parameter_declaration nodes, in order."""
    declarator = function_declarator(fn)
    params = declarator.child_by_field_name("parameters") if declarator is not None else None
    if params is None:
        return []
    return [p for p in params.named_children if p.type == "parameter_declaration"]


def enclosing(node: Node, *kinds: str) -> Node | None:
    """Return the nearest proper ancestor of one of the given types."""
    current = node.parent
    while current is not None:
        if current.type in kinds:
            return current
        current = current.parent
    return None


def unwrap(node: Node) -> Node:
    """Strip redundant parentheses."""
    while node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def operator(node: Node) -> str:
    """Return a binary, unary or assignment expression's operator text."""
    op = node.child_by_field_name("operator")
    return text_of(op) if op is not None else ""


def call_name(call: Node) -> str | None:
    """Return the name a call_expression calls directly (None for calls through pointers)."""
    callee = call.child_by_field_name("function")
    if callee is None:
        return None
    callee = unwrap(callee)
    if callee.type == "identifier":
        return text_of(callee)
    if callee.type == "field_expression":  # ops->dma_map_file(...): the member names the op
        field = callee.child_by_field_name("field")
        return text_of(field) if field is not None else None
    return None


def arguments(call: Node) -> list[Node]:
    """Return a call's argument expressions, in order."""
    args = call.child_by_field_name("arguments")
    return [a for a in args.named_children if a.type != "comment"] if args is not None else []


def contains(outer: Node, inner: Node) -> bool:
    """Tell whether ``inner`` lies within ``outer`` (by byte range)."""
    return outer.start_byte <= inner.start_byte and inner.end_byte <= outer.end_byte


def is_lvalue(node: Node) -> bool:
    """Tell whether a node is the target of an assignment (or of ``++``/``--``)."""
    child, parent = node, node.parent
    while parent is not None and parent.type in {"subscript_expression", "field_expression",
                                                 "parenthesized_expression",
                                                 "pointer_expression"}:
        if parent.type == "subscript_expression" and child == parent.child_by_field_name("index"):
            return False
        if parent.type == "field_expression" and child != parent.child_by_field_name("argument"):
            return False
        child, parent = parent, parent.parent
    if parent is None:
        return False
    if parent.type == "assignment_expression":
        return child == parent.child_by_field_name("left")
    return parent.type == "update_expression"


def root_identifier(expr: Node) -> Node | None:
    """Return the variable an lvalue path starts from (``a`` in ``a->b[i].c``)."""
    node = unwrap(expr)
    while True:
        if node.type == "identifier":
            return node
        if node.type in {"field_expression", "subscript_expression", "pointer_expression"}:
            inner = node.child_by_field_name("argument")
            if inner is None:
                return None
            node = unwrap(inner)
            continue
        return None


def statement_of(node: Node) -> Node:
    """Return the statement a node is part of (the node itself when it is one)."""
    current = node
    while current.parent is not None and not current.type.endswith("_statement") \
            and current.type not in {"declaration", "compound_statement"}:
        current = current.parent
    return current
