"""VFIO004's own predicate: a P2P provider that never looks at the quirk flag."""

from __future__ import annotations

from vfiolint.c.syntax import function_name
from vfiolint.rules.predicates import Args, Captures, Context, node_arg, predicate, regex


@predicate("vf-in-function-named?", "capture", "string")
def in_function_named(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a node inside a function whose name matches the pattern (in a hunk, the function
    the ``@@`` line names)."""
    node = node_arg(args, captures)
    fn = ctx.facts.function_of(node) if node is not None else None
    name = function_name(fn) if fn is not None else None
    return name is not None and bool(regex(args[1][0]).search(name))


@predicate("vf-function-never-reads?", "capture", "string")
def function_never_reads(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a node whose function never reads an identifier matching the pattern."""
    node = node_arg(args, captures)
    fn = ctx.facts.function_of(node) if node is not None else None
    return fn is not None and node is not None and not ctx.facts.around_reads(
        node, regex(args[1][0]), depth=0)
