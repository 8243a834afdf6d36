"""VFIO013's own predicates: which descriptor is a VFIO device, which transfer can be short,
and which comparison checks a transfer's count against its length."""

from __future__ import annotations

import re

from tree_sitter import Node

from vfiolint.c.syntax import operator, text_of, unwrap
from vfiolint.rules.predicates import Args, Captures, Context, node_arg, predicate

# Names a VFIO device descriptor goes by in DPDK (vfio_dev_fd, rte_intr_dev_fd_get()), QEMU
# (vdev->vbasedev.fd), kvmtool (vdev->fd) and libvfio-user's samples (device).
VFIO_FD_RE = re.compile(r"(?i)vfio|^vdev$|^vbasedev$|^(dev|device)_?fd$|dev_fd_get$|^device$"
                        r"|GET_DEVICE_FD$")
ONE_BYTE_RE = re.compile(r"^(const\s+)?(unsigned\s+char|signed\s+char|char|uint8_t|int8_t|u8|"
                         r"s8|__u8|__s8|uchar|guint8|gint8)$")
NOT_A_LENGTH = re.compile(r"^\(?\s*(0[uUlL]*|NULL|false|-\s*\w+)\s*\)?$")


@predicate("vf-vfio-device-fd?", "capture")
def vfio_device_fd(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a descriptor that is, or comes from, a VFIO device fd (by its names and the
    expressions its value is made of, four hops back)."""
    from vfiolint.c.flow import back_nodes  # the C model: loaded when a file is judged

    node = node_arg(args, captures)
    if node is None:
        return False
    return any(VFIO_FD_RE.search(t) for n in [node, *back_nodes(ctx.facts.flow, node)]
               for t in ctx.facts.tokens(n))


@predicate("vf-multibyte?", "capture")
def multibyte(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a transfer length that can be cut short: not the literal 1, not ``sizeof`` of a
    one-byte type or variable (a one-byte transfer is all or nothing)."""
    node = node_arg(args, captures)
    if node is None:
        return False
    node = unwrap(node)
    text = text_of(node).strip()
    if text in {"1", "1u", "1U"}:
        return False
    if node.type == "sizeof_expression":
        inner = node.child_by_field_name("value") or node.child_by_field_name("type")
        if inner is None:
            return True
        inner = unwrap(inner)
        if inner.type == "type_descriptor":
            return not ONE_BYTE_RE.match(text_of(inner).strip())
        ctype = ctx.facts.symbols.type_of(inner)
        if ctype is not None and not ctype.pointer and not ctype.array and \
                ONE_BYTE_RE.match(ctype.base.strip()):
            return False
    return True


def _is_length(node: Node) -> bool:
    """Tell whether an operand can stand for a transfer's length (not 0, NULL or -errno)."""
    return not NOT_A_LENGTH.match(text_of(node).strip())


@predicate("vf-length-compare?", "capture")
def length_compare(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a comparison of a count with a length: ``ret != sizeof(cap)``, ``(size_t)nr <
    len``, ``ret == 4``; not ``ret < 0``, ``ret <= 0``, ``ret == -1``, ``ret != 0``."""
    node = node_arg(args, captures)
    if node is None or node.type != "binary_expression":
        return False
    if operator(node) not in {"!=", "==", "<", "<=", ">", ">="}:
        return False
    left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
    if left is None or right is None:
        return False
    return _is_length(left) and _is_length(right)


@predicate("vf-result-used?", "capture")
def result_used(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a call whose result is used (a macro that may return nothing is judged only
    where its result is tested)."""
    node = node_arg(args, captures)
    if node is None:
        return False
    parent = ctx.facts.symbols.parent(node)
    while parent is not None and parent.type in {"parenthesized_expression",
                                                 "cast_expression"}:
        parent = ctx.facts.symbols.parent(parent)
    return parent is not None and parent.type != "expression_statement"
