"""VFIO005's own predicates: an MSI-X table guard joined to a switch that can turn it off."""

from __future__ import annotations

import re

from tree_sitter import Node

from vfiolint.c.syntax import (
    COMPARISONS,
    function_name,
    head_row,
    operator,
    squash,
    text_of,
    unwrap,
    walk,
)
from vfiolint.rules.predicates import Args, Captures, Context, node_arg, outermost, predicate

MSIX_BAR_RE = re.compile(r"(?i)msix\w*(\W+\w*)?(bar|bir)|\b(bar|bir)\w*(\W+\w*)?msix")


def _operands(node: Node, op: str) -> list[Node]:
    """Flatten a chain of one logical operator into its operands, parentheses stripped."""
    node = unwrap(node)
    if node.type == "binary_expression" and operator(node) == op:
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        return [*(_operands(left, op) if left else []), *(_operands(right, op) if right else [])]
    return [node]


def _msix_test(ctx: Context, operand: Node, op: str) -> bool:
    """Tell whether an operand compares something with the MSI-X BAR (not with a constant,
    which asks whether the device has MSI-X at all)."""
    if operand.type != "binary_expression" or operator(operand) != op:
        return False
    sides = [unwrap(c) for c in operand.children_by_field_name("left")
             + operand.children_by_field_name("right")]
    if any(side.type == "number_literal" for side in sides):
        return False
    return bool(MSIX_BAR_RE.search(squash(text_of(operand))))


CAPABILITY_RE = re.compile(r"(?i)mappable|sparse|MSIX_MAPPABLE")


def _is_switch(ctx: Context, operand: Node) -> bool:
    """Tell whether an operand is a platform or configuration switch rather than a range test,
    the region's own capability (``msix_mappable``: the kernel's say-so) or a local flag (a
    retry loop's ``!again`` decides nothing; the mapping it retries is judged instead)."""
    if CAPABILITY_RE.search(text_of(operand)):
        return False
    inner = operand
    if operand.type == "unary_expression" and text_of(operand).startswith("!"):
        inner = unwrap(operand.child_by_field_name("argument") or operand)
        if any(operator(n) in COMPARISONS for n in walk(inner)
               if n.type == "binary_expression"):
            return False
    elif operand.type not in {"call_expression", "identifier", "field_expression"}:
        return False
    return not (inner.type == "identifier" and _is_local(ctx, inner))


def _is_local(ctx: Context, ident: Node) -> bool:
    """Tell whether an identifier names a variable declared in its function's body (not a
    parameter, a global or a module parameter)."""
    declared = ctx.facts.symbols.lookup(text_of(ident), ident)
    if declared is None or declared.kind != "local":
        return False
    fn = declared.fn
    # A hunk fragment wrapped in a synthetic function (its first line is no real line) may
    # hold file-scope declarations: they are not locals.
    # A hunk fragment wrapped in a synthetic function of no name may hold file-scope
    # declarations, which are no locals; one named after its @@ line is that function.
    return fn is not None and (ctx.unit.real_line(head_row(fn)) is not None
                               or function_name(fn) != "__vfiolint_fragment")


CONFIG_RE = re.compile(r"\b(IS_ENABLED|IS_BUILTIN|IS_REACHABLE)\s*\(|\bCONFIG_\w+")


def _is_config(operand: Node) -> bool:
    """Tell whether an operand is a Kconfig switch, negated or not."""
    return bool(CONFIG_RE.search(text_of(operand)))


@predicate("vf-msix-guard-switched?", "capture")
def msix_guard_switched(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a condition that tests the MSI-X BAR together with a switch that can turn the
    MSI-X protection off: ``bar == msix_bar && !switch`` or ``bar != msix_bar || switch``."""
    node = node_arg(args, captures)
    if node is None or not outermost(ctx, args[:1], captures):
        return False
    op = operator(node)
    operands = _operands(node, op)
    test_op, wants_negated = ("==", True) if op == "&&" else ("!=", False)
    msix = [o for o in operands if _msix_test(ctx, o, test_op)]
    switches = [o for o in operands if o not in msix and _is_switch(ctx, o)
                and ((o.type == "unary_expression") == wants_negated or _is_config(o))]
    if msix and switches:
        ctx.note(node, switch=squash(text_of(switches[0])))
        return True
    return False
