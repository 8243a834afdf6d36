"""VFIO012's own predicates: what is a file descriptor, what treats 0 as "no descriptor", and
which descriptor array is zero-filled (so that its unused entries are 0, not -1)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tree_sitter import Node, QueryCursor

from vfiolint.c.syntax import (
    call_name,
    declarator_name,
    function_name,
    operator,
    parameters,
    squash,
    text_of,
    unwrap,
    walk,
)
from vfiolint.rules.predicates import Args, Captures, Context, node_arg, predicate

if TYPE_CHECKING:  # the C model: loaded when a file is judged, imported where it is used
    from vfiolint.c.flow import Loc

FD_RE = re.compile(r"(?i)(^|_)fd$")
FDS_RE = re.compile(r"(?i)(^|_)fds$")
# Descriptors named for what they open (kvmtool's `static int vfio_container`): only when the
# declared type is known to be an integer.
OBJECT_RE = re.compile(r"(?i)(^|_)(container|group|device|sock|socket)$")
# Counts and flags named after descriptors: nr_fds, num_fds, fd_num, got_fds, max_fds.
COUNT_RE = re.compile(r"(?i)^(nr|num|n|nb|max|got|cnt|count|total|recv|use|has|is)_|_(num|nr|cnt|"
                      r"count|max|idx|index|flag|flags|type|off|offset|size|len)$")
BOOL_RE = re.compile(r"\b(bool|_Bool|gboolean)\b")
CALL_RE = re.compile(r"(?i)(^|_)fd(_get)?$")
# A call that acts on a descriptor and returns a status: vfio_kvm_device_add_fd(fd, errp).
ACTION_RE = re.compile(r"(?i)(^|_)(add|del|delete|remove|set|close|put|release|register|"
                       r"unregister|attach|detach|bind|unbind|send|install|check|is|has|"
                       r"valid|validate|free|handle|process)_(\w+_)?fd$")
ZERO_ALLOC_RE = re.compile(r"^(g_new0|g_malloc0|g_malloc0_n|calloc|rte_zmalloc|rte_zmalloc_socket|"
                           r"rte_calloc|rte_calloc_socket|zmalloc|kzalloc|kcalloc)$")
ZERO = frozenset({"0", "0U", "0u", "0L", "0UL"})
# What only a descriptor is given to, and what only makes one.
FD_CALLS = frozenset({"close", "ioctl", "mmap", "mmap64", "pread", "pread64", "pwrite", "pwrite64",
                      "read", "write", "fcntl", "dup", "dup2", "fstat", "ftruncate", "fsync",
                      "lseek", "sendmsg", "recvmsg", "send", "recv", "epoll_ctl", "flock",
                      "fallocate", "readv", "writev", "preadv", "pwritev"})
FD_MAKERS_RE = re.compile(r"^(open|open64|openat|eventfd|socket|accept|accept4|memfd_create|dup|"
                          r"dup2|dup3|epoll_create|epoll_create1|timerfd_create|signalfd|"
                          r"qemu_open|qemu_open_old|g_open)$")
WRAPPERS = frozenset({"parenthesized_expression", "cast_expression", "subscript_expression",
                      "pointer_expression"})


def _name(node: Node) -> str:
    """Return the name an lvalue-ish expression ends with: ``fd``, ``s->container_fd``."""
    if node.type == "field_expression":
        member = node.child_by_field_name("field")
        return text_of(member) if member is not None else ""
    if node.type == "identifier":
        return text_of(node)
    return ""


def fd_value(ctx: Context, expr: Node) -> Node | None:
    """Return the expression if it holds one file descriptor (by its name, and its type
    when known): ``fd``, ``vdev->fd``, ``vfio_group_fd``, ``fds[i]``, ``*fds``, the result
    of ``rte_intr_dev_fd_get()``; None for counts (``nr_fds``), pointers and arrays."""
    node = unwrap(expr)
    if node.type == "assignment_expression":  # (fd = open(...)) > 0
        left = node.child_by_field_name("left")
        return fd_value(ctx, left) if left is not None else None
    element = node.type == "subscript_expression" or (
        node.type == "pointer_expression" and not text_of(node).lstrip().startswith("&"))
    if node.type == "call_expression":
        name = call_name(node) or ""
        return node if (CALL_RE.search(name) and not COUNT_RE.search(name)
                        and not ACTION_RE.search(name)) else None
    if element:
        base = node.child_by_field_name("argument")
        name = _name(unwrap(base)) if base is not None else ""
        named = FDS_RE.search(name) or FD_RE.search(name)
    else:
        name = _name(node)
        named = FD_RE.search(name)
    if (not named and not OBJECT_RE.search(name)) or COUNT_RE.search(name):
        return None
    if not descriptor_evidence(ctx, node):
        return None  # never used as a descriptor (asked first: it is cheaper than the type)
    ctype = ctx.facts.symbols.type_of(node)
    if not named and not (ctype is not None and not ctype.pointer and not ctype.array and
                          ctype.record is None and ctype.width == "narrow" and
                          not BOOL_RE.search(ctype.base)):
        return None  # an object name (`container`) counts only as a known integer
    if ctype is not None and ctype.base != "?" and (
            ctype.pointer or ctype.array or ctype.record is not None or
            ctype.width is None or BOOL_RE.search(ctype.base)):
        return None  # a pointer, an array, a struct or a flag named like a descriptor
    return node


def _is_descriptor_use(ctx: Context, use: Node) -> bool:
    """Tell whether a read of a location treats it as a descriptor: passed to ``close()``,
    ``ioctl()``, ``mmap()``..., or compared with -1 or below 0."""
    up = ctx.facts.symbols.parent
    node, parent = use, up(use)
    while parent is not None and parent.type in WRAPPERS:
        node, parent = parent, up(parent)
    if parent is None:
        return False
    if parent.type == "argument_list":
        call = up(parent)
        return call is not None and call_name(call) in FD_CALLS
    if parent.type == "binary_expression":
        other = parent.child_by_field_name("right") if node == parent.child_by_field_name(
            "left") else parent.child_by_field_name("left")
        text = text_of(other).replace(" ", "") if other is not None else ""
        op = operator(parent)
        return (text in {"-1", "(-1)"} and op in {"==", "!="}) or (
            text in ZERO and op in {"<", ">="} and node == parent.child_by_field_name("left"))
    return False


def descriptor_evidence(ctx: Context, expr: Node) -> bool:
    """Tell whether the unit treats a value as a descriptor somewhere: where it comes from or
    goes to, the same location is made by ``open()``/``eventfd()``..., set to -1, passed to
    a call only descriptors are passed to, or compared with -1 or below 0."""
    flow = ctx.facts.flow
    target = expr
    if target.type in {"subscript_expression", "pointer_expression"}:
        target = target.child_by_field_name("argument") or target
    if _local_evidence(ctx, target) or any(_text_evidence(ctx, k) for k in _keys(ctx, target)):
        return True  # the code says so where it names it: no need for the flow
    own = flow.loc_of(target)
    if own is None or own.kind != "var" or not own.scope:
        return False  # a member or a global whose every mention in the file says nothing
    # A local or parameter: where it is passed in the file (the callee's parameter), and what
    # the file's callers pass for it. Only functions are walked, never the whole unit.
    locs = {own} | {p for use in flow.uses(own) if (p := _parameter_of(ctx, use))}
    if any(_local_evidence(ctx, arg) or any(_text_evidence(ctx, k) for k in _keys(ctx, arg))
           for arg in _passed_for(ctx, own, target)):
        return True
    for loc in locs:
        for value, _ in flow.defs(loc):
            value = unwrap(value)
            if text_of(value).replace(" ", "") in {"-1", "(-1)"}:
                return True
            if value.type == "call_expression" and FD_MAKERS_RE.match(call_name(value) or ""):
                return True
        if any(_is_descriptor_use(ctx, use) for use in flow.uses(loc)):
            return True
    return False


# A call only descriptors are given to; what it is given runs from its "(" to the next ";".
DESCRIPTOR_CALL_RE = re.compile(
    rb"\b(close|ioctl|mmap|mmap64|pread|pread64|pwrite|pwrite64|fcntl|dup|dup2|fstat|ftruncate|"
    rb"fsync|lseek|sendmsg|recvmsg|epoll_ctl|flock)\s*\(")
TEXT_AFTER = (rb"\s*(<\s*0\b|>=\s*0\b|[=!]=\s*-\s*1\b|=\s*(open\w*|eventfd|socket|accept4?|"
              rb"memfd_create|dup[23]?|epoll_create1?|timerfd_create|signalfd)\s*\(|=\s*-\s*1\s*;)")


def _keys(ctx: Context, target: Node) -> list[str]:
    """Return the texts a value is written as: itself, or for a call of the unit's own
    function, what that function returns (``fslmc_vfio_container_fd()`` returns
    ``s_vfio_container.fd``)."""
    if target.type != "call_expression":
        return [squash(text_of(target))]
    name = call_name(target)
    keys = []
    for fn in ctx.facts.symbols.by_name(name)[:1] if name else []:
        keys += [squash(text_of(r.named_children[0])) for r in walk(fn)
                 if r.type == "return_statement" and r.named_children]
    return keys


def _descriptor_arguments(ctx: Context) -> bytes:
    """Return what the unit gives the calls only descriptors are given to: each call's text
    from its "(" to the next ";", joined by lines that hold a ";" (so that no expression runs
    from one into the next); found once per unit."""
    cache = ctx.facts.__dict__
    if "_vfio012_arguments" not in cache:
        text = ctx.unit.text
        parts = []
        for m in DESCRIPTOR_CALL_RE.finditer(text):
            end = text.find(b";", m.end())
            parts.append(text[m.end():end if end >= 0 else len(text)])
        cache["_vfio012_arguments"] = b"\n;\n".join(parts)
    return bytes(cache["_vfio012_arguments"])


def _text_evidence(ctx: Context, key: str) -> bool:
    """Tell whether the unit's text treats an expression as a descriptor: passes it to
    ``close()``, ``ioctl()``..., compares it with -1 or below 0, or sets it from ``open()``,
    ``eventfd()``... or to -1 (once per expression and unit). The expression is not part of a
    longer one (no word character, ``>`` or ``.`` just before it), asked after its text is
    found: the search then starts from that text."""
    if not key or not re.fullmatch(r"[\w.>*\[\]-]+", key):
        return False
    cache: dict[str, bool] = ctx.facts.__dict__.setdefault("_vfio012_text", {})
    if key not in cache:
        k = re.escape(key).encode()
        alone = k + rb"(?<![\w>.]" + k + rb")"
        cache[key] = bool(re.search(alone + rb"\b", _descriptor_arguments(ctx)) or re.search(
            alone + TEXT_AFTER, ctx.unit.text))
    return cache[key]


def _local_evidence(ctx: Context, target: Node) -> bool:
    """Tell whether the function around an expression uses the same expression (by its text)
    as a descriptor, or makes it with ``open()``/``eventfd()``... or sets it to -1."""
    fn = ctx.facts.function_of(target)
    if fn is None:
        return False
    key = squash(text_of(target))
    for node in walk(fn):
        if node.type != target.type or node.id == target.id or squash(text_of(node)) != key:
            continue
        parent = ctx.facts.symbols.parent(node)
        if parent is not None and parent.type == "assignment_expression" and \
                parent.child_by_field_name("left") == node:
            value = parent.child_by_field_name("right")
            value = unwrap(value) if value is not None else None
            if value is not None and (text_of(value).replace(" ", "") in {"-1", "(-1)"} or (
                    value.type == "call_expression" and
                    FD_MAKERS_RE.match(call_name(value) or ""))):
                return True
        elif _is_descriptor_use(ctx, node):
            return True
    return False


def _passed_for(ctx: Context, loc: Loc, at: Node) -> list[Node]:
    """Return what the unit's callers pass for a parameter (nothing for a local)."""
    declared = ctx.facts.symbols.lookup(loc.name, at)
    if declared is None or declared.kind != "param" or declared.fn is None:
        return []
    name = function_name(declared.fn)
    out = []
    for site in ctx.facts.calls.sites(name) if name else []:
        args = site.child_by_field_name("arguments")
        named = args.named_children if args is not None else []
        if declared.index < len(named):
            out.append(unwrap(named[declared.index]))
    return out


def _parameter_of(ctx: Context, use: Node) -> Loc | None:
    """Return the parameter of the unit's function a value is passed to, if it is one."""
    from vfiolint.c.flow import Loc

    up = ctx.facts.symbols.parent
    node, parent = use, up(use)
    while parent is not None and parent.type in WRAPPERS:
        node, parent = parent, up(parent)
    call = up(parent) if parent is not None and parent.type == "argument_list" else None
    name = call_name(call) if call is not None else None
    for fn in ctx.facts.symbols.by_name(name)[:1] if name else []:
        index = [a.id for a in parent.named_children].index(node.id) if parent else -1
        params = parameters(fn)
        if 0 <= index < len(params):
            pname = declarator_name(params[index].child_by_field_name("declarator"))
            if pname:
                return Loc("var", pname, fn.id)
    return None


def _zero(node: Node | None) -> bool:
    """Tell whether an expression is the literal 0."""
    return node is not None and text_of(unwrap(node)).strip() in ZERO


def zero_test(ctx: Context, node: Node) -> Node | None:
    """Return the descriptor a test compares with 0 (``fd <= 0``, ``fd > 0``, ``fd == 0``,
    ``fd != 0``, ``!fd``, or ``fd`` alone as a condition), None for any other node."""
    kind = node.type
    if kind == "binary_expression":
        op = operator(node)
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is None or right is None:
            return None
        if op in {"==", "!="}:
            if _zero(right):
                return fd_value(ctx, left)
            return fd_value(ctx, right) if _zero(left) else None
        if op in {"<=", ">"} and _zero(right):
            return fd_value(ctx, left)
        if op in {">=", "<"} and _zero(left):
            return fd_value(ctx, right)
        return None
    if kind == "unary_expression" and operator(node) == "!":
        argument = node.child_by_field_name("argument")
        return fd_value(ctx, argument) if argument is not None else None
    if kind in {"identifier", "field_expression", "subscript_expression", "pointer_expression"}:
        return fd_value(ctx, node) if _bare_condition(ctx, node) else None
    return None


def _bare_condition(ctx: Context, node: Node) -> bool:
    """Tell whether a value is tested for truth on its own: the condition of an ``if``, a
    loop or ``?:``, or an operand of ``&&``/``||`` there (not inside a comparison or ``!``)."""
    def up(n: Node) -> Node | None:  # a few levels: the tree's own links, no parent map
        return n.parent

    child, parent = node, up(node)
    while parent is not None and parent.type == "parenthesized_expression":
        child, parent = parent, up(parent)
    while parent is not None and parent.type == "binary_expression" and \
            operator(parent) in {"&&", "||"}:
        child, parent = parent, up(parent)
        while parent is not None and parent.type == "parenthesized_expression":
            child, parent = parent, up(parent)
    if parent is None:
        return False
    if parent.type in {"if_statement", "while_statement", "do_statement"}:
        cond = parent.child_by_field_name("condition")
        return cond is not None and cond.id == child.id
    if parent.type in {"for_statement", "conditional_expression"}:
        cond = parent.child_by_field_name("condition")
        return cond is not None and cond.id == child.id
    return False


@predicate("vf-fd-zero-test?", "capture")
def fd_zero_test(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a test that treats a file descriptor of 0 as no descriptor."""
    node = node_arg(args, captures)
    if node is None:
        return False
    fd = zero_test(ctx, node)
    if fd is None:
        return False
    ctx.note(node, fd=text_of(fd)[:60])
    return True


# Zero-filled descriptor arrays --------------------------------------------------------------


FILL_CALLS = '((call_expression function: (identifier) @f) @call (#match? @f "^(memset|bzero)$"))'


def _fill_calls(ctx: Context) -> list[Node]:
    """Return the unit's memset()/bzero() calls (found once per unit)."""
    cached: list[Node] | None = ctx.facts.__dict__.get("_vfio012_fills")
    if cached is None:
        from vfiolint.c import cparse

        cursor = QueryCursor(cparse.query(FILL_CALLS))
        cached = [c for _, caps in cursor.matches(ctx.facts.root) for c in caps.get("call", [])]
        ctx.facts.__dict__["_vfio012_fills"] = cached
    return cached


def _fills(ctx: Context, loc: Loc) -> tuple[bool, bool]:
    """Tell whether a location is filled with zeros somewhere in the unit, and whether it is
    ever given -1 (an element, a memset or an initialiser)."""
    flow = ctx.facts.flow
    zeroed = minus_one = False
    for value, _ in flow.defs(loc):
        value = unwrap(value)
        text = text_of(value).replace(" ", "")
        if value.type == "call_expression" and ZERO_ALLOC_RE.match(call_name(value) or ""):
            zeroed = True
        elif value.type == "initializer_list":
            if "-1" in text:
                minus_one = True
            elif text.strip("{}0,") == "":
                zeroed = True
        elif text in {"-1", "(-1)"}:
            minus_one = True
    for call in _fill_calls(ctx):
        args = call.child_by_field_name("arguments")
        named = args.named_children if args is not None else []
        if not named:
            continue
        target = unwrap(named[0])
        if target.type == "pointer_expression" and text_of(target).lstrip().startswith("&"):
            inner = target.child_by_field_name("argument")
            target = unwrap(inner) if inner is not None else target
        if flow.loc_of(target) != loc:
            continue
        fill = text_of(named[1]).strip() if len(named) > 1 and call_name(call) == "memset" \
            else "0"
        if fill in ZERO:
            zeroed = True
        elif fill in {"-1", "0xff", "0xFF", "~0"}:
            minus_one = True
    declared = ctx.facts.symbols.lookup(loc.name, ctx.facts.root) if loc.kind == "var" and \
        not loc.scope else None
    if declared is not None and declared.ctype.array and declared.node is not None and \
            declared.node.type != "init_declarator":
        zeroed = True  # a file-scope array without an initialiser starts as zeros
    return zeroed, minus_one


# What zero-fills something named like a descriptor array, each found from its first text (a
# name may start with anything before "fd", which a match of the alternation needs not say):
ZERO_FILLS = tuple(re.compile(p) for p in (
    rb"memset(?<!\wmemset)\s*\(\s*&?\s*[\w.>-]*fds?\b",  # memset(fds, ...)
    rb"bzero(?<!\wbzero)\s*\(\s*&?\s*[\w.>-]*fds?\b",
    rb"fds?\b[^;\n]*=\s*(g_new0|g_malloc0\w*|calloc|rte_zmalloc\w*|rte_calloc\w*|zmalloc|kzalloc|"
    rb"kcalloc)\b",  # fds = g_new0(...)
    rb"fds?\s*\[[^\]]*\]\s*=\s*\{\s*0?\s*\}"))  # int fds[4] = {0}
INT_ARRAY_RE = re.compile(rb"int\s+\w*fds?\s*\[")  # a file-scope int array (at a line's start)
LINE_HEAD_RE = re.compile(rb"\s*(static\s+)?")


def _int_array_line(text: bytes) -> bool:
    """Tell whether a line of the text declares an ``int`` array named like descriptors:
    ``int fds[8];``, ``static int vfio_fds[...]`` (only blanks and ``static`` before it)."""
    found = INT_ARRAY_RE.search(text)
    while found is not None:
        start = found.start()
        if LINE_HEAD_RE.fullmatch(text, text.rfind(b"\n", 0, start) + 1, start):
            return True
        found = INT_ARRAY_RE.search(text, start + 1)
    return False


def _zero_fill_hint(ctx: Context) -> bool:
    """Tell, from the text alone, whether the unit zero-fills something named like a
    descriptor array (so that the flow is asked only where the answer may be yes)."""
    cache = ctx.facts.__dict__
    if "_vfio012_hint" not in cache:
        text = ctx.unit.text
        cache["_vfio012_hint"] = any(r.search(text) for r in ZERO_FILLS) or \
            _int_array_line(text)
    return bool(cache["_vfio012_hint"])


def _named_in_a_zero_fill(ctx: Context, array: Node) -> bool:
    """Tell, from the text alone, whether the array's name appears in a statement that could
    zero-fill it: an allocation that zeroes, a memset or bzero, an ``= {0}`` initialiser, a
    file-scope declaration (once per name and unit)."""
    name = _name(unwrap(array))
    if not name:
        return False
    cache: dict[str, bool] = ctx.facts.__dict__.setdefault("_vfio012_named", {})
    if name not in cache:
        n = re.escape(name).encode()
        cache[name] = bool(re.search(
            rb"(?m)\b" + n + rb"\b[^;]*=\s*(g_new0|g_malloc0\w*|calloc|rte_zmalloc\w*|rte_calloc\w*|"
            rb"zmalloc|kzalloc|kcalloc)\b|\b(memset|bzero)\s*\(\s*&?\s*[\w.>-]*\b" + n +
            rb"\b|\b" + n + rb"\s*\[[^\]]*\]\s*=\s*\{\s*0?\s*\}|^\s*(static\s+)?int\s+" + n +
            rb"\s*\[", ctx.unit.text))
    return cache[name]


def _zero_filled_element(ctx: Context, element: Node) -> bool:
    """Tell whether an element of a descriptor array comes from an array the unit fills with
    zeros and never with -1 (its own location, or one a caller passes in)."""
    if element.type not in {"subscript_expression", "pointer_expression"}:
        return False
    array = element.child_by_field_name("argument")
    if array is None or not _named_in_a_zero_fill(ctx, array) or \
            fd_value(ctx, element) is None:
        return False
    from vfiolint.c.flow import origin_locs

    flow = ctx.facts.flow
    own = flow.loc_of(array)
    locs = origin_locs(flow, array) | ({own} if own is not None else set())
    zeroed = minus_one = False
    for loc in locs:
        z, m = _fills(ctx, loc)
        zeroed, minus_one = zeroed or z, minus_one or m
    return zeroed and not minus_one


@predicate("vf-zero-filled-fd?", "capture")
def zero_filled_fd(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a descriptor that is an element of an array the unit fills with zeros
    (``g_new0``, ``calloc``, ``memset(fds, 0, ...)``, ``= {0}``) and never with -1, directly
    or in a caller that passes it in (``map_region(dev, fds[0])``): its unused entries are 0."""
    from vfiolint.c.flow import back_nodes

    node = node_arg(args, captures)
    if node is None or not _zero_fill_hint(ctx):
        return False
    element = unwrap(node)
    candidates = [element] if element.type in {"subscript_expression", "pointer_expression"} \
        else [n for n in back_nodes(ctx.facts.flow, element)
              if n.type in {"subscript_expression", "pointer_expression"}]
    return any(_zero_filled_element(ctx, c) for c in candidates)


VFIO_TOKEN_RE = re.compile(r"(?i)vfio|^vfu_")


@predicate("vf-vfio-code?", "capture")
def vfio_code(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep code that deals with VFIO: its file's path names VFIO, or the function mentions
    VFIO or libvfio-user's ``vfu_`` (its neighbourhood is asked by the flow's context)."""
    node = node_arg(args, captures)
    if node is None:
        return False
    if "vfio" in ctx.unit.path.lower():
        return True
    text = text_of(node).lower()
    if "vfio" not in text and "vfu_" not in text:
        return False  # no token can hold what the text does not (asked first: it is cheaper)
    return any(VFIO_TOKEN_RE.search(t) for t in ctx.facts.tokens(node))
