"""VFIO009's own predicates: which members of a VFIO or vfio-user request are 64-bit values
the other side chooses, and which comparisons are a bounds check on a sum of them (as opposed
to the test for wrap-around itself)."""

from __future__ import annotations

import re

from tree_sitter import Node

from vfiolint.c.syntax import contains, operator, text_of, unwrap, walk
from vfiolint.rules.predicates import (
    KERNEL_VFIO_RE,
    Args,
    Captures,
    Context,
    node_arg,
    predicate,
)

# The requests whose members the untrusted side fills: VFIO ioctl structs a kernel copies
# from user space, vfio-user messages a server reads from its socket (and the one a client
# reads from the server). A member names its width (only 64-bit ones can wrap a 64-bit sum)
# or the request it holds (``bitmap``).
WIRE: dict[str, dict[str, str]] = {
    "vfio_user_region_access": {"offset": "u64", "count": "u32", "region": "u32"},
    "vfio_user_dma_map": {"offset": "u64", "addr": "u64", "size": "u64"},
    "vfio_user_dma_unmap": {"addr": "u64", "size": "u64", "bitmap": "vfio_bitmap"},
    "vfio_user_dma_region": {"offset": "u64", "addr": "u64", "size": "u64",
                             "bitmap": "vfio_bitmap"},
    "vfio_user_dma_region_access": {"addr": "u64", "count": "u64"},
    "vfio_user_bitmap_range": {"iova": "u64", "size": "u64", "bitmap": "vfio_bitmap"},
    "vfio_user_bitmap": {"pgsize": "u64", "size": "u64"},
    "vfio_bitmap": {"pgsize": "u64", "size": "u64"},
    "vfio_iommu_type1_dma_map": {"vaddr": "u64", "iova": "u64", "size": "u64"},
    "vfio_iommu_type1_dma_unmap": {"iova": "u64", "size": "u64"},
    "vfio_iommu_type1_dirty_bitmap_get": {"iova": "u64", "size": "u64",
                                          "bitmap": "vfio_bitmap"},
    "vfio_device_feature_dma_logging_range": {"iova": "u64", "length": "u64"},
    "vfio_device_feature_dma_logging_report": {"iova": "u64", "length": "u64",
                                               "page_size": "u64"},
    "vfio_user_device_feature_dma_logging_range": {"iova": "u64", "length": "u64"},
    "vfio_user_device_feature_dma_logging_report": {"iova": "u64", "length": "u64",
                                                    "page_size": "u64"},
    "vfio_device_ioeventfd": {"offset": "u64"},
    "vfio_iommu_spapr_register_memory": {"vaddr": "u64", "size": "u64"},
}


# Who receives a request, and so must not trust it: a kernel (VFIO ioctls: user space fills
# them itself), a vfio-user client (DMA accesses the server asks for), or a vfio-user server
# (everything else it reads from its socket).
KERNEL_RECEIVES = frozenset({
    "vfio_iommu_type1_dma_map", "vfio_iommu_type1_dma_unmap",
    "vfio_iommu_type1_dirty_bitmap_get", "vfio_device_feature_dma_logging_range",
    "vfio_device_feature_dma_logging_report", "vfio_device_ioeventfd",
    "vfio_iommu_spapr_register_memory"})
CLIENT_RECEIVES = frozenset({"vfio_user_dma_region_access"})
# vfio-user clients: libvfio-user's sample client, SPDK's NVMe driver, QEMU's vfio-user device.
CLIENT_PATH_RE = re.compile(r"(^|/)(samples/client\.c|lib/vfio_user/host/|hw/vfio-user/|"
                            r"hw/vfio/user)")


def _side(record: str) -> str:
    """Name who receives a request: ``kernel``, ``client`` or ``server``."""
    if record in KERNEL_RECEIVES:
        return "kernel"
    return "client" if record in CLIENT_RECEIVES else "server"


def received_here(side: str, path: str) -> bool:
    """Tell whether the code at a path is the side that receives such a request."""
    if side == "kernel":
        return bool(KERNEL_VFIO_RE.search(path))
    client = bool(CLIENT_PATH_RE.search(path))
    return client if side == "client" else not client


def wire_record(ctx: Context, base: Node, depth: int = 4) -> tuple[str, str] | None:
    """Return the request an expression is (or points to), by its declared type, and who
    receives it; a member that holds another request (``unmap->bitmap``) is that request,
    received where its holder is (a few members deep)."""
    record = ctx.facts.symbols.record_of(base)
    if record is not None and record in WIRE:
        return record, _side(record)
    if depth == 0:
        return None
    base = unwrap(base)
    while base.type in {"subscript_expression", "parenthesized_expression"}:
        inner = base.child_by_field_name("argument") or (
            base.named_children[0] if base.named_children else None)
        if inner is None:
            return None
        base = unwrap(inner)
    if base.type != "field_expression":
        return None
    owner = base.child_by_field_name("argument")
    outer = wire_record(ctx, owner, depth - 1) if owner is not None else None
    if outer is None:
        return None
    held = WIRE[outer[0]].get(text_of(base.child_by_field_name("field")))
    if held is None or held not in WIRE:
        return None
    return held, outer[1]


@predicate("vf-wire-u64?", "capture")
def wire_u64(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a read of a 64-bit member of a request the untrusted side fills, on the side
    that receives it (``ra->offset``, ``unmap.iova``, ``dma_unmap->bitmap->size``)."""
    node = node_arg(args, captures)
    if node is None or node.type != "field_expression":
        return False
    base = node.child_by_field_name("argument")
    member = node.child_by_field_name("field")
    found = wire_record(ctx, base) if base is not None else None
    if found is None or WIRE[found[0]].get(text_of(member)) != "u64":
        return False
    if not received_here(found[1], ctx.unit.path):
        return False  # the side that sends it fills it
    ctx.note(node, wire=f"struct {found[0]}")
    return True


# Sums ------------------------------------------------------------------------------------------


def _strip(node: Node) -> Node:
    """Strip parentheses and casts."""
    node = unwrap(node)
    while node.type == "cast_expression":
        value = node.child_by_field_name("value")
        if value is None:
            break
        node = unwrap(value)
    return node


def _sum_leaves(node: Node) -> list[Node] | None:
    """Return the addends of an addition (``a + b - 1`` gives a, b, 1); None when the
    expression adds nothing. Left-leaning chains are walked without recursion."""
    leaves: list[Node] = []
    added = False
    node = _strip(node)
    while node.type == "binary_expression" and operator(node) in {"+", "-"}:
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is None or right is None:
            return None
        added = added or operator(node) == "+"
        right = _strip(right)
        inner = right.type == "binary_expression" and operator(right) == "+"
        if inner and operator(node) == "+":  # a + (b + c): its addends are the sum's
            leaves += [_strip(n) for n in (right.child_by_field_name("left"),
                                           right.child_by_field_name("right")) if n is not None]
        else:
            leaves.append(right)
        node = _strip(left)
    if not added:
        return None
    leaves.append(node)
    return leaves[::-1]


def sums_of(ctx: Context, node: Node) -> list[list[Node]]:
    """Return the additions a compared expression is: itself, or what the local it reads was
    given (``end = off + len; if (end > size)``)."""
    leaves = _sum_leaves(node)
    if leaves is not None:
        return [leaves]
    bare = _strip(node)
    if bare.type != "identifier":
        return []
    declared = ctx.facts.symbols.lookup(text_of(bare), bare)
    if declared is None or declared.kind != "local" or declared.fn is None or \
            declared.ctype.width == "narrow":
        return []  # a sum kept in a 32-bit local is not this rule's (and an int wraps anyway)
    return [found for value in _local_values(declared.fn, text_of(bare))
            if (found := _sum_leaves(value)) is not None]


def _local_values(fn: Node, name: str) -> list[Node]:
    """Return the values a function gives a local (its initialiser and assignments)."""
    out = []
    for node in walk(fn):
        if node.type == "init_declarator":
            target, value = node.child_by_field_name("declarator"), node.child_by_field_name(
                "value")
        elif node.type == "assignment_expression" and operator(node) == "=":
            target, value = node.child_by_field_name("left"), node.child_by_field_name("right")
        else:
            continue
        if target is not None and value is not None and text_of(unwrap(target)) == name:
            out.append(value)
    return out


def _same(ctx: Context, a: Node, b: Node) -> bool:
    """Tell whether two expressions read the same variable or member: the same text, the same
    variable, or a local given the other's value."""
    a, b = _strip(a), _strip(b)
    if text_of(a) == text_of(b):
        return True
    flow = ctx.facts.flow
    if a.type == b.type == "identifier" and flow.loc_of(a) == flow.loc_of(b):
        return True  # members are compared by text: a->iova is not b->iova
    for local, other in ((a, b), (b, a)):
        declared = ctx.facts.symbols.lookup(text_of(local), local) \
            if local.type == "identifier" else None
        if declared is not None and declared.kind == "local" and declared.fn is not None and \
                any(text_of(_strip(value)) == text_of(other)
                    for value in _local_values(declared.fn, text_of(local))):
            return True
    return False


def wrap_test(ctx: Context, side: Node, other: Node) -> bool:
    """Tell whether a comparison tests a sum against one of its own addends: the test for
    wrap-around (``iova + size - 1 < iova``), not a bounds check."""
    return any(_same(ctx, other, leaf) for leaves in sums_of(ctx, side) for leaf in leaves)


def in_loop_condition(ctx: Context, node: Node) -> bool:
    """Tell whether a node is part of a loop's condition (``while (i < start + len)`` walks
    a range; it checks no request)."""
    loop = ctx.facts.symbols.enclosing(node, "for_statement", "while_statement",
                                       "do_statement")
    cond = loop.child_by_field_name("condition") if loop is not None else None
    return cond is not None and contains(cond, node)


@predicate("vf-compared-sum?", "capture", "capture")
def compared_sum(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep one side of a bounds check (not a loop's condition) that is a sum, or a local
    holding one, compared with something other than its own addends."""
    side, other = node_arg(args, captures), node_arg(args, captures, 1)
    if side is None or other is None or in_loop_condition(ctx, side):
        return False
    return bool(sums_of(ctx, side)) and not wrap_test(ctx, side, other)


@predicate("vf-wrap-test?", "capture", "capture")
def is_wrap_test(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a test, outside a loop's condition, of a sum against one of its own addends
    (``a + b < a``)."""
    side, other = node_arg(args, captures), node_arg(args, captures, 1)
    return side is not None and other is not None and not in_loop_condition(ctx, side) \
        and wrap_test(ctx, side, other)


@predicate("vf-not-sum?", "capture")
def not_sum(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep an expression that is not itself a sum (a bound on one value, not on a total)."""
    node = node_arg(args, captures)
    return node is not None and not sums_of(ctx, node)
