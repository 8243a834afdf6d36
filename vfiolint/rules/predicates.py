"""Custom ``#vf-<phrase>?`` query predicates: small pure functions over the C model.

A predicate receives the match context (the unit and its Facts), its arguments as written in
the query, and the match's captures; it answers True to keep the match. Each is registered
with the kinds of its arguments (``capture`` or ``string``), and a rule whose query calls a
predicate with the wrong arguments fails to load, naming the predicate and what it expects.

Predicates every rule may use live here; a rule's own predicates live in the ``.py`` file
beside its ``.toml`` and register themselves the same way when the rule loads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from tree_sitter import Node

from vfiolint.c.syntax import call_name, enclosing, operator, text_of, walk

if TYPE_CHECKING:
    from vfiolint.c.facts import Facts
    from vfiolint.inputs.images import SourceUnit

Args = list[tuple[str, str]]
Captures = dict[str, list[Node]]
Predicate = Callable[["Context", Args, Captures], bool]

KERNEL_VFIO_RE = re.compile(r"(^|/)(drivers/vfio/|drivers/pci/|include/linux/vfio|"
                            r"include/uapi/linux/vfio)")
CONDITION_PARENTS = frozenset({"if_statement", "while_statement", "for_statement",
                               "do_statement", "conditional_expression"})


@dataclass
class Context:
    """What a predicate may look at: the unit, its facts, and notes for the finding's message."""

    unit: SourceUnit
    facts: Facts
    notes: dict[int, dict[str, str]] = field(default_factory=dict)
    log_functions: frozenset[str] = frozenset()  # configured: calls that only print
    mentions: frozenset[bytes] = frozenset()  # the rules' keywords the change names

    def note(self, node: Node, **values: str) -> None:
        """Record message fields (and ``guessed``) for the finding reported at ``node``."""
        self.notes.setdefault(node.id, {}).update(values)


@dataclass(frozen=True, slots=True)
class Registered:
    """A predicate and the kinds of the arguments it takes."""

    fn: Predicate
    args: tuple[str, ...]


REGISTRY: dict[str, Registered] = {}
CUSTOM_RE = re.compile(r'\(#(vf-[a-z0-9-]+\?)((?:\s+(?:@[\w.-]+|"(?:[^"\\]|\\.)*"))*)\s*\)')
ARG_RE = re.compile(r'@([\w.-]+)|"((?:[^"\\]|\\.)*)"')


def predicate(name: str, *args: str) -> Callable[[Predicate], Predicate]:
    """Register a function as the ``#<name>`` predicate taking arguments of these kinds."""

    def register(fn: Predicate) -> Predicate:
        REGISTRY[name] = Registered(fn, args)
        return fn

    return register


def split_patterns(query: str) -> list[str]:
    """Split a query into its top-level patterns, in the order tree-sitter numbers them."""
    patterns: list[str] = []
    depth, start, i, n = 0, -1, 0, len(query)
    while i < n:
        ch = query[i]
        if ch == ";":
            end = query.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch == '"':
            i += 1
            while i < n and query[i] != '"':
                i += 2 if query[i] == "\\" else 1
        elif ch in "([":
            if depth == 0:
                start = i
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth == 0 and start >= 0:
                j = i + 1
                while j < n and query[j] in "*+?":
                    j += 1
                patterns.append(query[start:j])
                start = -1
        i += 1
    return patterns


@cache
def custom_predicates(query: str) -> tuple[tuple[tuple[str, Args], ...], ...]:
    """Return, per pattern, the ``#vf-...?`` predicates and their arguments.

    They are applied here, after tree-sitter's own (#eq?, #match?, #any-of?): the binding's
    predicate callback leaks memory on every call (py-tree-sitter 0.25 and 0.26)."""
    out = []
    for pattern in split_patterns(query):
        checks = []
        for m in CUSTOM_RE.finditer(pattern):
            args: Args = [(a, "capture") if a else (b.replace('\\"', '"').replace("\\\\", "\\"),
                                                  "string")
                          for a, b in ARG_RE.findall(m.group(2))]
            checks.append((m.group(1), args))
        out.append(tuple(checks))
    return tuple(out)


ANY_PREDICATE_RE = re.compile(r"#([a-z][a-z0-9-]*\?)")
BUILTIN_PREDICATES = {"eq?", "not-eq?", "any-eq?", "any-not-eq?", "match?", "not-match?",
                      "any-match?", "any-not-match?", "any-of?", "not-any-of?", "is?", "is-not?",
                      "set!"}


def check_calls(query: str) -> list[str]:
    """Return a problem for each predicate a query calls that is unknown, or a ``#vf-`` one
    called with arguments of the wrong number or kind."""
    problems = [f"query: unknown predicate #{name}" for name in ANY_PREDICATE_RE.findall(query)
                if not name.startswith("vf-") and name not in BUILTIN_PREDICATES]
    for checks in custom_predicates(query):
        for name, args in checks:
            known = REGISTRY.get(name)
            if known is None:
                problems.append(f"query: unknown predicate #{name}")
                continue
            kinds = tuple(kind for _, kind in args)
            if kinds != known.args:
                want = ", ".join(known.args) or "no arguments"
                problems.append(f"query: #{name} takes ({want}), "
                                f"given ({', '.join(kinds) or 'nothing'})")
    return problems


def holds(ctx: Context, checks: tuple[tuple[str, Args], ...], captures: Captures) -> bool:
    """Tell whether a match passes all its pattern's custom predicates."""
    return all(REGISTRY[name].fn(ctx, args, captures) for name, args in checks)


@cache
def regex(pattern: str) -> re.Pattern[str]:
    """Compile a pattern given in a rule file."""
    return re.compile(pattern)


def node_arg(args: Args, captures: Captures, k: int = 0) -> Node | None:
    """Return the node of the k-th argument, which must be a capture."""
    value, kind = args[k]
    nodes = captures.get(value, []) if kind == "capture" else []
    return nodes[0] if nodes else None


def string_arg(args: Args, k: int) -> str:
    """Return the k-th argument, which must be a string."""
    return args[k][0]


# Tokens and neighbourhoods ---------------------------------------------------------------------


@predicate("vf-contains-token?", "capture", "string")
def contains_token(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a match whose node holds an identifier matching the pattern."""
    node = node_arg(args, captures)
    pattern = regex(string_arg(args, 1))
    return node is not None and any(pattern.search(t) for t in ctx.facts.tokens(node))


@predicate("vf-some-around?", "capture", "string")
def some_around(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a match when an identifier matching the pattern appears in its neighbourhood (the
    function, and the unit's callers and callees two steps each way)."""
    node = node_arg(args, captures)
    return node is not None and ctx.facts.around_has(node, regex(string_arg(args, 1)))


@predicate("vf-none-around?", "capture", "string")
def none_around(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a match when no identifier matching the pattern appears in its neighbourhood."""
    node = node_arg(args, captures)
    return node is not None and not ctx.facts.around_has(node, regex(string_arg(args, 1)))


@predicate("vf-none-read-around?", "capture", "string")
def none_read_around(ctx: Context, args: Args, captures: Captures) -> bool:
    """Like ``vf-none-around?``, but only reads count: storing into ``bar_mmap_supported[i]``
    is not checking it."""
    node = node_arg(args, captures)
    return node is not None and not ctx.facts.around_reads(node, regex(string_arg(args, 1)))


@predicate("vf-value-from?", "capture", "string")
def value_from(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a node whose value comes (through the flow model) from an identifier or a call
    matching the pattern: ``mfd`` initialised from ``qemu_ram_get_fd(rb)`` comes from
    ``get_fd``."""
    node = node_arg(args, captures)
    if node is None:
        return False
    pattern = regex(string_arg(args, 1))

    def named(n: Node) -> bool:
        if n.type == "call_expression":
            name = call_name(n)
            return name is not None and bool(pattern.search(name))
        return n.type in {"identifier", "field_expression"} and bool(
            pattern.search(text_of(n).split("->")[-1].split(".")[-1]))

    for part in walk(node):
        if part.type in {"identifier", "field_expression", "call_expression"} and (
                named(part) or ctx.facts.flow.origins(part, named)):
            return True
    return False


@predicate("vf-in-condition?", "capture")
def in_condition(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a node that is tested as (part of) the condition of a branch or loop."""
    node = node_arg(args, captures)
    if node is None:
        return False
    child, parent = node, node.parent
    while parent is not None and parent.type in {"binary_expression", "unary_expression",
                                                 "parenthesized_expression"}:
        if parent.type == "binary_expression" and operator(parent) not in {"&&", "||"}:
            return False
        child, parent = parent, parent.parent
    if parent is None or parent.type not in CONDITION_PARENTS:
        return False
    cond = parent.child_by_field_name("condition")
    return cond is not None and cond.id == child.id


@predicate("vf-calls-token?", "capture", "string")
def calls_token(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep code that makes a call naming or passing an identifier matching the pattern,
    itself or in one of the unit's functions it calls."""
    node = node_arg(args, captures)
    if node is None:
        return False
    pattern = regex(string_arg(args, 1))
    if _calls_matching(ctx, node, pattern):
        return True
    called = {name for n in walk(node) if n.type == "call_expression"
              and (name := call_name(n)) is not None}
    return any(_calls_matching(ctx, fn, pattern) for name in called
               for fn in ctx.facts.symbols.by_name(name))


def _calls_matching(ctx: Context, node: Node, pattern: re.Pattern[str]) -> bool:
    """Tell whether a call below a node names or passes an identifier matching the pattern."""
    return any(pattern.search(t) for n in walk(node)
               if n.type == "call_expression" for t in ctx.facts.tokens(n))


@predicate("vf-not-a-call-with?", "capture", "string")
def not_a_call_with(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a node that does not itself perform a call mentioning the pattern (the error
    check of an ``ioctl(fd, IOMMU_IOAS_MAP_FILE, …)`` chooses nothing)."""
    node = node_arg(args, captures)
    return node is not None and not _calls_matching(ctx, node, regex(string_arg(args, 1)))


@predicate("vf-userspace-path?", "capture")
def userspace_path(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a match in a file outside the kernel's VFIO and PCI core (where VFIO internals
    are fair)."""
    return not KERNEL_VFIO_RE.search(ctx.unit.path)


@predicate("vf-kernel-path?", "capture")
def kernel_path(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a match in the kernel's VFIO or PCI core."""
    return bool(KERNEL_VFIO_RE.search(ctx.unit.path))


@predicate("vf-outermost?", "capture")
def outermost(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a binary expression that is not an operand of the same operator."""
    node = node_arg(args, captures)
    if node is None:
        return False
    parent = node.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    return not (parent is not None and parent.type == node.type
                and operator(parent) == operator(node))


@predicate("vf-type-is?", "capture", "string")
def type_is(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep an expression whose type (struct tag, typedef or base type) matches the pattern;
    when its type is out of sight, one whose name does."""
    node = node_arg(args, captures)
    if node is None:
        return False
    pattern = regex(string_arg(args, 1))
    ctype = ctx.facts.symbols.type_of(node)
    if ctype is not None and ctype.base != "?":
        return bool(pattern.search(ctype.base) or (ctype.record and pattern.search(ctype.record)))
    return any(pattern.search(t) for t in ctx.facts.tokens(node))


@predicate("vf-initialises?", "capture", "string")
def initialises(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep an ``initializer_pair`` (``.member = value``) of an initialiser whose declared or
    compound-literal type matches the pattern."""
    node = node_arg(args, captures)
    if node is None:
        return False
    owner = ctx.facts.symbols.enclosing(node, "init_declarator", "compound_literal_expression")
    if owner is None:
        return False
    if owner.type == "init_declarator":
        decl = ctx.facts.symbols.parent(owner)
        type_node = decl.child_by_field_name("type") if decl is not None else None
    else:
        type_node = owner.child_by_field_name("type")
    return type_node is not None and bool(regex(string_arg(args, 1)).search(text_of(type_node)))


@predicate("vf-in-function?", "capture")
def in_function(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a node inside a function body (not at file scope, not in a macro definition)."""
    node = node_arg(args, captures)
    return node is not None and enclosing(node, "function_definition") is not None


# Requests from the untrusted side -----------------------------------------------------------

# Calls that fill a struct from the other side, and which argument they fill.
REQUEST_FILLERS = {"copy_from_user": 0, "__copy_from_user": 0, "recv": 1, "recvfrom": 1}
# A VFIO argument struct: a uAPI one (struct vfio_region_info...) or vfio-user's own.
REQUEST_TYPE_RE = re.compile(r"(?i)vfio")


def _raw_message(node: Node) -> bool:
    """Tell whether an expression is a received message's bytes: ``msg->in.iov.iov_base``,
    ``msg->in_data`` (libvfio-user), ``cmd_data`` (its older dispatcher), with arithmetic
    and casts (``msg->in_data + sizeof(*req)``); not the reply being built (``msg->out...``)."""
    for part in walk(node):
        text = text_of(part)
        if part.type == "identifier" and text == "cmd_data":
            return True
        if part.type == "field_expression":
            member = part.child_by_field_name("field")
            name = text_of(member)
            if name == "in_data" or (name == "iov_base" and re.search(r"\bin\b", text)):
                return True
    return False


def _request_type(facts: Facts, ident: Node) -> bool:
    """Tell whether a variable's declared type is a VFIO argument struct (or a pointer to
    one)."""
    declared = facts.symbols.lookup(text_of(ident), ident)
    if declared is None:
        return False
    ctype = declared.ctype
    return bool(REQUEST_TYPE_RE.search(ctype.record or ctype.base)) and ctype.pointer <= 1


def _filled_here(facts: Facts, ident: Node) -> bool:
    """Tell whether a struct variable is filled from the other side by ``copy_from_user(&x,
    ...)`` or ``recv(fd, &x, ...)`` in its function."""
    from vfiolint.c.flow import Loc

    declared = facts.symbols.lookup(text_of(ident), ident)
    if declared is None or declared.kind != "local" or declared.ctype.pointer or \
            declared.fn is None:
        return False
    loc = Loc("var", declared.name, declared.fn.id)
    return any(REQUEST_FILLERS.get(call_name(call) or "") == index
               for call, index in facts.flow.tables().address.get(loc, []))


def _fills(facts: Facts, use: Node) -> bool:
    """Tell whether a pointer is the buffer a filling call writes the other side's bytes to
    (``recv(fd, req, sizeof(*req), 0)``)."""
    from vfiolint.c.syntax import arguments

    args = facts.symbols.parent(use)
    call = facts.symbols.parent(args) if args is not None else None
    if args is None or call is None or args.type != "argument_list":
        return False
    index = REQUEST_FILLERS.get(call_name(call) or "")
    found = arguments(call)
    return index is not None and index < len(found) and found[index].id == use.id


def _acquired_here(facts: Facts, ident: Node) -> bool:
    """Tell whether a function turns the other side's bytes into this VFIO struct itself: it
    copies it in, receives into a buffer it points at, points a typed local at the received
    message, or takes it as a parameter its callers pass the raw message to."""
    if _filled_here(facts, ident):
        return True
    declared = facts.symbols.lookup(text_of(ident), ident)
    if declared is None or not declared.ctype.pointer or declared.fn is None:
        return False
    if declared.kind == "local":
        from vfiolint.c.flow import Loc

        loc = Loc("var", declared.name, declared.fn.id)
        return any(_raw_message(value) for value, _ in facts.flow.defs(loc)) or any(
            _fills(facts, use) for use in facts.flow.uses(loc))
    if declared.kind == "param":
        from vfiolint.c.syntax import arguments, function_name

        name = function_name(declared.fn)
        sites = facts.calls.sites(name) if name else []
        return any(declared.index < len(args := arguments(site)) and
                   _raw_message(args[declared.index]) for site in sites)
    return False


# Where a request comes from, in names: a unit that names none of these holds no request.
REQUEST_MARKERS = frozenset({*REQUEST_FILLERS, "iov_base", "in_data", "cmd_data"})
MARKER_RE = re.compile(rb"\b(" + b"|".join(m.encode() for m in sorted(REQUEST_MARKERS)) +
                       rb")\b")


def untrusted_request(facts: Facts, ident: Node, acquired: bool) -> bool:
    """Tell whether a variable holds a VFIO argument struct that came from the other side
    (a user's ioctl argument, a vfio-user client's message): acquired in its own function,
    or (unless ``acquired``) reaching it from where it was, through the unit's calls.

    Answers are kept per unit, function and name: rules ask about every member access."""
    if ident.type != "identifier":
        return False
    cache: dict[tuple[int, str, bool], bool] = vars(facts).setdefault("_untrusted_requests", {})
    unit_key = (-1, "", False)  # whether the unit names a way a request arrives at all
    if unit_key not in cache:
        cache[unit_key] = _names_a_marker(facts)
    if not cache[unit_key]:
        return False
    fn = facts.function_of(ident)
    if fn is None:
        return False
    key = (fn.id, text_of(ident), acquired)
    if key not in cache:
        # A local of a function that names no way in is no request: skip the lookups.
        cache[key] = (bool(REQUEST_MARKERS & facts.tokens(fn)) or _is_parameter(fn, key[1])) \
            and _untrusted_request(facts, ident, acquired)
    return cache[key]


def _is_parameter(fn: Node, name: str) -> bool:
    """Tell whether a function declares a parameter of this name."""
    from vfiolint.c.syntax import declarator_name, parameters

    return any(declarator_name(p.child_by_field_name("declarator")) == name
               for p in parameters(fn))


def _names_a_marker(facts: Facts) -> bool:
    """Tell whether the unit's text names any of the ways a request arrives."""
    text = facts.root.text or b""
    return MARKER_RE.search(text) is not None


def _untrusted_request(facts: Facts, ident: Node, acquired: bool) -> bool:
    """Answer untrusted_request() for one variable."""
    if not _request_type(facts, ident):
        return False
    if _acquired_here(facts, ident):
        return True
    if acquired:
        return False

    def origin(n: Node) -> bool:
        if n.type == "pointer_expression" and text_of(n).lstrip().startswith("&"):
            inner = n.child_by_field_name("argument")
            return inner is not None and inner.type == "identifier" and _filled_here(facts,
                                                                                      inner)
        return n.type in {"field_expression", "identifier"} and _raw_message(n)

    return bool(facts.flow.origins(ident, origin))


@predicate("vf-untrusted-request?", "capture", "string")
def untrusted_request_predicate(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a variable (or the variable an access path starts from) that holds a VFIO
    argument struct from the other side: a local filled by ``copy_from_user(&x, ...)``, a
    pointer to a received vfio-user message. With ``"acquired"``, only in the function that
    receives it; with ``"any"``, also in the unit's helpers it is handed to."""
    from vfiolint.c.syntax import root_identifier

    node = node_arg(args, captures)
    root = root_identifier(node) if node is not None else None
    return root is not None and untrusted_request(ctx.facts, root,
                                                  string_arg(args, 1) == "acquired")
