"""VFIO002's own predicates: what names the page size, and what rounds a length up to it."""

from __future__ import annotations

import re

from tree_sitter import Node

from vfiolint.c.syntax import call_name, operator, text_of, unwrap, walk
from vfiolint.rules.predicates import Args, Captures, Context, node_arg, predicate

# The page-size vocabulary of the kernel, QEMU, DPDK/SPDK, libvfio-user and kvmtool.
PAGE_RE = re.compile(
    r"(?i)page_?(size|sz|mask|shift|bits|align)|pgsz|pg_?size|pgsize|pgshift|RTE_PGSIZE"
    r"|^getpagesize$|^_SC_PAGE_?SIZE$|host_page_size|REAL_HOST_PAGE")
ROUND_RE = re.compile(r"(?i)^(PAGE_ALIGN|ALIGN|ALIGN_UP|ROUND_UP|round_up|roundup|"
                      r"REAL_HOST_PAGE_ALIGN|TARGET_PAGE_ALIGN|QEMU_ALIGN_UP|RTE_ALIGN|"
                      r"RTE_ALIGN_CEIL|RTE_ALIGN_MUL_CEIL|SPDK_ALIGN_CEIL|HOST_PAGE_ALIGN)$")


def names_page_size(ctx: Context, node: Node) -> bool:
    """Tell whether an expression is (or is built from) the page size."""
    return any(PAGE_RE.search(t) for t in ctx.facts.tokens(node))


@predicate("vf-page-size?", "capture")
def page_size(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep an expression that names the page size (``PAGE_SIZE``, ``~TARGET_PAGE_MASK``,
    ``pgsz - 1``, ``qemu_real_host_page_size()``, ``sysconf(_SC_PAGESIZE)``...)."""
    node = node_arg(args, captures)
    return node is not None and names_page_size(ctx, node)


def _rounds_up(ctx: Context, node: Node) -> bool:
    """Tell whether an expression rounds a value up to the page size."""
    node = unwrap(node)
    if node.type == "call_expression":
        name = call_name(node)
        return (bool(name and ROUND_RE.search(name)) and names_page_size(ctx, node)) or (
            name in {"PAGE_ALIGN", "REAL_HOST_PAGE_ALIGN", "TARGET_PAGE_ALIGN",
                     "HOST_PAGE_ALIGN"})
    if node.type == "binary_expression" and operator(node) == "&":
        # (x + PAGE_SIZE - 1) & PAGE_MASK, (x + pgsz - 1) & ~(pgsz - 1)
        left = unwrap(node.child_by_field_name("left") or node)
        return left.type == "binary_expression" and operator(left) in {"+", "-"} and \
            names_page_size(ctx, node) and "+" in text_of(left)
    return False


@predicate("vf-rounded-up?", "capture")
def rounded_up(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a length that is, or comes from (through the flow model), a value rounded up to
    the page size: it maps past the region's end."""
    node = node_arg(args, captures)
    if node is None:
        return False
    if any(_rounds_up(ctx, n) for n in walk(node) if n.type in {"call_expression",
                                                                  "binary_expression"}):
        return True
    return bool(ctx.facts.flow.origins(node, lambda n: _rounds_up(ctx, n)))
