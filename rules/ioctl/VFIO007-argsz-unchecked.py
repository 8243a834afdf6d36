"""VFIO007's own predicates: which requests carry an ``argsz``, and which uses of one act on
it (a field read, a copy back) rather than fill it or print it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tree_sitter import Node

from vfiolint.c.syntax import call_name, is_lvalue, text_of
from vfiolint.rules.predicates import (
    Args,
    Captures,
    Context,
    node_arg,
    predicate,
    untrusted_request,
)

if TYPE_CHECKING:
    from vfiolint.c.facts import Facts

# The VFIO argument structs of include/uapi/linux/vfio.h and of vfio-user that start with
# argsz, for when the struct's definition is not in view (it never is: it is in a header).
ARGSZ_STRUCTS = frozenset({
    "vfio_group_status", "vfio_device_info", "vfio_region_info",
    "vfio_irq_info", "vfio_irq_set", "vfio_pci_hot_reset_info", "vfio_pci_hot_reset",
    "vfio_device_gfx_plane_info", "vfio_device_ioeventfd", "vfio_device_feature",
    "vfio_device_bind_iommufd", "vfio_device_attach_iommufd_pt",
    "vfio_device_detach_iommufd_pt", "vfio_iommu_type1_info", "vfio_iommu_type1_dma_map",
    "vfio_iommu_type1_dma_unmap", "vfio_iommu_type1_dirty_bitmap",
    "vfio_iommu_spapr_tce_info", "vfio_eeh_pe_op", "vfio_iommu_spapr_register_memory",
    "vfio_iommu_spapr_tce_create", "vfio_iommu_spapr_tce_remove", "vfio_user_dma_map",
    "vfio_user_dma_unmap", "vfio_user_device_info", "vfio_user_region_io_fds_request",
    "vfio_user_region_io_fds_reply", "vfio_user_mig_data", "vfio_user_device_feature",
})
LOG_RE = re.compile(
    r"^(printf|fprintf|snprintf|printk|vfu_log|lm_log|err|warn|warnx|errx|syslog)$"
    r"|^(pr|dev|pci|vfio_dev|netdev)_(emerg|alert|crit|err|warn|warning|notice|info|dbg|debug)"
    r"(_ratelimited|_once)?$|^(WARN|WARN_ON|WARN_ONCE|BUG_ON|assert|trace_\w+)$"
    r"|^(SPDK|RTE)_\w*LOG\w*$|^DEBUG|_LOG$")


def _has_argsz(facts: Facts, ident: Node) -> bool:
    """Tell whether a variable is a struct (or pointer to one) that begins with argsz."""
    declared = facts.symbols.lookup(text_of(ident), ident)
    if declared is None:
        return False
    ctype = declared.ctype
    record = ctype.record or ctype.base.replace("struct", "").strip()
    record = re.sub(r"_t$", "", record)
    if record in ARGSZ_STRUCTS:
        return True
    return "argsz" in facts.symbols.fields(record) if ctype.record else False


@predicate("vf-argsz-request?", "capture")
def argsz_request(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a variable holding a VFIO argument struct with an ``argsz`` that its function
    receives from the other side (copies in from the user, or points at in the client's
    message)."""
    node = node_arg(args, captures)
    return node is not None and node.type == "identifier" and \
        untrusted_request(ctx.facts, node, acquired=True) and _has_argsz(ctx.facts, node)


@predicate("vf-request-use?", "capture")
def request_use(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a read that acts on a request's field: not a store into it, not ``sizeof``, not
    an argument of a log message."""
    node = node_arg(args, captures)
    if node is None or is_lvalue(node):
        return False
    up = ctx.facts.symbols.parent
    current = up(node)
    while current is not None and current.type not in {"expression_statement",
                                                        "compound_statement",
                                                        "function_definition"}:
        if current.type == "sizeof_expression":
            return False
        if current.type == "call_expression" and LOG_RE.search(call_name(current) or ""):
            return False
        current = up(current)
    return True


@predicate("vf-checked-by-callee?", "capture", "capture")
def checked_by_callee(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a call that hands ``x->argsz`` (the second capture) to a function of the unit
    that compares the parameter receiving it (``dev_get_reginfo(ctx, in->index,
    in->argsz, &out)`` with ``if (argsz < sizeof(struct vfio_region_info))`` inside)."""
    call = node_arg(args, captures)
    arg = node_arg(args, captures, 1)
    if call is None or arg is None:
        return False
    from vfiolint.c.syntax import arguments, declarator_name, operator, parameters, walk

    name = call_name(call)
    ids = [a.id for a in arguments(call)]
    if not name or arg.id not in ids:
        return False
    for fn in ctx.facts.symbols.by_name(name)[:1]:
        params = parameters(fn)
        index = ids.index(arg.id)
        if index >= len(params):
            return False
        pname = declarator_name(params[index].child_by_field_name("declarator"))
        for node in walk(fn):
            if node.type == "binary_expression" and operator(node) in {
                    "<", "<=", ">", ">=", "==", "!="} and any(
                    side is not None and side.type == "identifier" and text_of(side) == pname
                    for side in (node.child_by_field_name("left"),
                                 node.child_by_field_name("right"))):
                return True
    return False
