"""VFIO006's own predicates: what a SET_IRQS ``start``/``count`` is, when their sum is the
bounds check, and which tests keep that sum from wrapping."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tree_sitter import Node

from vfiolint.c.syntax import operator, text_of, unwrap, walk
from vfiolint.rules.predicates import Args, Captures, Context, node_arg, predicate

if TYPE_CHECKING:
    from vfiolint.c.facts import Facts

IRQ_SET_NAME_RE = re.compile(r"(?i)irq_?set|^hdr$|^set$|^req$")
MAX32_RE = re.compile(r"^(U32_MAX|UINT32_MAX|UINT_MAX|~0U|~0u|~\(u32\)0|0x[fF]{8}[uU]?)$")
ORDER = frozenset({">", ">=", "<", "<="})
# A comparison inside one of these is no bounds check: a loop's, an assertion's.
NOT_A_CHECK = frozenset({"for_statement", "while_statement", "do_statement",
                         "call_expression"})
TRANSPARENT = frozenset({"likely", "unlikely", "__builtin_expect"})


def _irq_set_object(facts: Facts, obj: Node) -> bool:
    """Tell whether an expression is a struct vfio_irq_set (by type; by name when its
    declaration is out of sight)."""
    ctype = facts.symbols.type_of(obj)
    if ctype is not None and ctype.base != "?":
        return ctype.record == "vfio_irq_set" or "vfio_irq_set" in ctype.base
    names = [text_of(n) for n in walk(obj) if n.type in {"identifier", "field_identifier"}]
    return bool(names) and bool(IRQ_SET_NAME_RE.search(names[-1]))


def _member(facts: Facts, node: Node, names: frozenset[str]) -> bool:
    """Tell whether a node reads ``start``/``count`` of a struct vfio_irq_set."""
    if node.type != "field_expression":
        return False
    field = node.child_by_field_name("field")
    obj = node.child_by_field_name("argument")
    return text_of(field) in names and obj is not None and _irq_set_object(facts, obj)


def _wide_cast(facts: Facts, node: Node) -> bool:
    """Tell whether an operand is cast to a type wider than 32 bits (the sum cannot wrap)."""
    from vfiolint.c.types import width_class  # the C model: loaded when a file is judged

    node = unwrap(node)
    if node.type != "cast_expression":
        return False
    ctype = facts.symbols.type_of(node)
    return ctype is not None and (ctype.pointer > 0 or width_class(ctype.base) in {"wide",
                                                                                  "word"})


def irq_operand(facts: Facts, node: Node, which: str) -> bool:
    """Tell whether an operand is the request's ``start`` or ``count`` (``which``), read
    directly or through 32-bit locals assigned from it, and not widened on the way."""
    from vfiolint.c.types import width_class

    names = frozenset({which})
    node = unwrap(node)
    if _wide_cast(facts, node):
        return False
    while node.type == "cast_expression":
        value = node.child_by_field_name("value")
        if value is None:
            return False
        node = unwrap(value)
    if _member(facts, node, names):
        return True
    if node.type != "identifier":
        return False
    declared = facts.symbols.lookup(text_of(node), node)
    if declared is None or width_class(declared.ctype.base) != "narrow" or \
            declared.ctype.pointer:
        return False
    return bool(facts.flow.origins(node, lambda n: _member(facts, n, names), steps=3))


def _sum_of(facts: Facts, side: Node) -> Node | None:
    """Return the ``start + count`` addition a side of a comparison is, if it is one."""
    side = unwrap(side)
    if side.type != "binary_expression" or operator(side) != "+":
        return None
    left, right = side.child_by_field_name("left"), side.child_by_field_name("right")
    if left is None or right is None:
        return None
    if (irq_operand(facts, left, "start") and irq_operand(facts, right, "count")) or \
            (irq_operand(facts, left, "count") and irq_operand(facts, right, "start")):
        return side
    return None


def _a_check(ctx: Context, node: Node) -> bool:
    """Tell whether a comparison decides something (an if, a return, a flag), rather than
    bounding a loop or sitting in an assertion."""
    up = ctx.facts.symbols.parent
    current = up(node)
    while current is not None and current.type not in {"function_definition",
                                                        "compound_statement"}:
        if current.type in NOT_A_CHECK and not (
                current.type == "call_expression" and text_of(
                    current.child_by_field_name("function")) in TRANSPARENT):
            return False
        current = up(current)
    return True


@predicate("vf-irq-range-sum?", "capture", "capture")
def irq_range_sum(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a bounds check (the first capture) whose side given as the second capture is the
    request's ``start + count`` in 32 bits, compared with something other than one of the
    two (``start + count < start`` is the test for the wrap, not a victim of it)."""
    node = node_arg(args, captures)
    side = node_arg(args, captures, 1)
    if node is None or side is None or node.type != "binary_expression" or \
            operator(node) not in ORDER:
        return False
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    other = right if side == left else left
    found = _sum_of(ctx.facts, side)
    if found is None or other is None:
        return False
    parts = {text_of(unwrap(p)) for p in (found.child_by_field_name("left"),
                                          found.child_by_field_name("right")) if p}
    if text_of(unwrap(other)) in parts or not _a_check(ctx, node):
        return False
    ctx.note(node, sum=" ".join(text_of(found).split())[:60])
    return True


@predicate("vf-irq-overflow-guard?", "capture")
def irq_overflow_guard(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a test that rules the wrap out: ``count >= U32_MAX - start`` (either way round),
    ``start + count < start``, ``check_add_overflow(start, count, &end)``."""
    node = node_arg(args, captures)
    if node is None:
        return False
    facts = ctx.facts
    node = unwrap(node)
    if node.type == "call_expression":
        name = text_of(node.child_by_field_name("function"))
        return bool(re.search(r"add_overflow", name)) and any(
            irq_operand(facts, a, w) for a in walk(node) for w in ("start", "count")
            if a.type in {"field_expression", "identifier"})
    if node.type != "binary_expression" or operator(node) not in ORDER:
        return False
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    if left is None or right is None:
        return False
    for side, other in ((left, right), (right, left)):
        side_u = unwrap(side)
        if side_u.type == "binary_expression" and operator(side_u) == "-":
            top = side_u.child_by_field_name("left")
            low = side_u.child_by_field_name("right")
            if top is not None and low is not None and \
                    MAX32_RE.match(text_of(unwrap(top)).replace(" ", "")) and \
                    any(irq_operand(facts, low, w) for w in ("start", "count")) and \
                    any(irq_operand(facts, other, w) for w in ("start", "count")):
                return True
        total = _sum_of(facts, side)
        if total is not None:
            parts = {text_of(unwrap(p)) for p in (total.child_by_field_name("left"),
                                                  total.child_by_field_name("right")) if p}
            if text_of(unwrap(other)) in parts:
                return True
    return False


@predicate("vf-irq-count-bounded?", "capture")
def irq_count_bounded(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep an ordering test of the request's ``count`` alone against a limit that does not
    involve ``start`` (``count > max``): with ``start`` bounded too, the sum cannot wrap."""
    node = node_arg(args, captures)
    if node is None or node.type != "binary_expression" or operator(node) not in ORDER:
        return False
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    if left is None or right is None:
        return False
    facts = ctx.facts
    for side, other in ((left, right), (right, left)):
        if irq_operand(facts, side, "count") and not any(
                irq_operand(facts, n, "start") for n in walk(other)
                if n.type in {"field_expression", "identifier"}):
            return True
    return False
