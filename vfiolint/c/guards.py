"""Guard conditions: which conditions hold whenever a piece of code runs.

A condition *guards* a node when the node runs only on one side of it: inside the branch of an
``if`` or loop, after an early ``return``/``goto``/``continue``/``break`` taken when the
condition fails, or as the right operand of ``&&``/``||``. Conditions are split into *atoms*
(no ``&&``, ``||`` or ``!`` at the top) with the truth value the guard fixes: code after
``if (!(flags & F) || size < PAGE_SIZE) return;`` runs only when ``flags & F`` is true and
``size < PAGE_SIZE`` is false. An atom whose truth the condition does not fix (one side of an
``||`` that held) guards nothing. (After CodeQL's guard conditions.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tree_sitter import Node

from vfiolint.c.syntax import EXITS, LOGICAL, contains, operator, text_of, unwrap

ZERO = frozenset({"0", "NULL", "false", "0UL", "0U", "0ULL", "0L"})


@dataclass(frozen=True, slots=True)
class Guard:
    """A condition atom that has the value ``holds`` whenever the guarded code runs."""

    atom: Node
    holds: bool
    condition: Node
    kind: str  # branch | exit | operand | loop


def fixed_atoms(cond: Node, truth: bool) -> list[tuple[Node, bool]]:
    """Return the atoms whose truth value a condition's being ``truth`` fixes."""
    cond = unwrap(cond)
    if cond.type == "unary_expression" and operator(cond) == "!":
        inner = cond.child_by_field_name("argument")
        return fixed_atoms(inner, not truth) if inner is not None else []
    if cond.type == "binary_expression":
        op = operator(cond)
        left, right = cond.child_by_field_name("left"), cond.child_by_field_name("right")
        if op in LOGICAL and left is not None and right is not None:
            if (op == "&&") == truth:  # a true && or a false ||: every operand is fixed
                return fixed_atoms(left, truth) + fixed_atoms(right, truth)
            return []
        if op in {"==", "!="} and left is not None and right is not None:
            # x == 0 is !x; x != 0 is x.
            for value, zero in ((left, right), (right, left)):
                if text_of(unwrap(zero)).strip() in ZERO:
                    return fixed_atoms(value, truth if op == "!=" else not truth)
    return [(cond, truth)]


def always_exits(stmt: Node | None) -> bool:
    """Tell whether a statement always leaves the surrounding code (return, goto, break,
    continue), directly or as the last statement of a block."""
    if stmt is None:
        return False
    if stmt.type in EXITS:
        return True
    if stmt.type == "compound_statement":
        body = [c for c in stmt.named_children if c.type != "comment"]
        return bool(body) and always_exits(body[-1])
    if stmt.type == "expression_statement":
        # abort(), exit(), BUG(), g_assert_not_reached(): calls that never return.
        text = text_of(stmt)
        return text.startswith(("abort(", "exit(", "_exit(", "BUG(", "g_assert_not_reached(",
                                "rte_panic(", "panic("))
    if stmt.type == "if_statement":
        alternative = stmt.child_by_field_name("alternative")
        if alternative is None:
            return False
        other = alternative.named_children[0] if alternative.named_children else None
        return always_exits(stmt.child_by_field_name("consequence")) and always_exits(other)
    return False


def _statement_child(block: Node, node: Node) -> Node | None:
    """Return the child statement of a block that contains a node."""
    for child in block.named_children:
        if contains(child, node):
            return child
    return None


def guards_of(node: Node, parent_of: Callable[[Node], Node | None] | None = None
              ) -> list[Guard]:
    """Return the guards under which a node runs, innermost first, up to its function
    (``parent_of`` climbs the tree; the unit's map makes that cheap on deep trees)."""
    up = parent_of or (lambda n: n.parent)
    out: list[Guard] = []
    child, parent = node, up(node)
    while parent is not None and parent.type != "function_definition":
        kind = parent.type
        if kind == "if_statement":
            cond = parent.child_by_field_name("condition")
            consequence = parent.child_by_field_name("consequence")
            alternative = parent.child_by_field_name("alternative")
            if cond is not None and not contains(cond, node):
                truth = None
                if consequence is not None and contains(consequence, node):
                    truth = True
                elif alternative is not None and contains(alternative, node):
                    truth = False
                if truth is not None:
                    out += [Guard(a, t, cond, "branch") for a, t in fixed_atoms(cond, truth)]
        elif kind in {"while_statement", "for_statement"}:
            cond = parent.child_by_field_name("condition")
            body = parent.child_by_field_name("body")
            if cond is not None and body is not None and contains(body, node):
                out += [Guard(a, t, cond, "loop") for a, t in fixed_atoms(cond, True)]
        elif kind == "conditional_expression":
            cond = parent.child_by_field_name("condition")
            consequence = parent.child_by_field_name("consequence")
            if cond is not None and not contains(cond, node):
                truth = consequence is not None and contains(consequence, node)
                out += [Guard(a, t, cond, "branch") for a, t in fixed_atoms(cond, truth)]
        elif kind == "binary_expression" and operator(parent) in LOGICAL:
            left, right = parent.child_by_field_name("left"), parent.child_by_field_name("right")
            if left is not None and right is not None and contains(right, node):
                truth = operator(parent) == "&&"
                out += [Guard(a, t, left, "operand") for a, t in fixed_atoms(left, truth)]
        elif kind == "compound_statement":
            here = _statement_child(parent, child)
            for stmt in parent.named_children:
                if here is None or stmt.start_byte >= here.start_byte:
                    break
                if stmt.type != "if_statement" or stmt.child_by_field_name("alternative"):
                    continue
                cond = stmt.child_by_field_name("condition")
                if cond is not None and always_exits(stmt.child_by_field_name("consequence")):
                    out += [Guard(a, t, cond, "exit") for a, t in fixed_atoms(cond, False)]
        child, parent = parent, up(parent)
    return out


def condition_atoms(cond: Node) -> list[Node]:
    """Split a condition into all its atoms, whatever their truth (for "does it mention")."""
    cond = unwrap(cond)
    if cond.type == "unary_expression" and operator(cond) == "!":
        inner = cond.child_by_field_name("argument")
        return condition_atoms(inner) if inner is not None else []
    if cond.type == "binary_expression" and operator(cond) in LOGICAL:
        left, right = cond.child_by_field_name("left"), cond.child_by_field_name("right")
        return [*(condition_atoms(left) if left else []), *(condition_atoms(right) if right
                                                             else [])]
    return [cond]
