"""The C model on small snippets: where values come from and go, which conditions guard code,
what a name's type is; and the promises rule docs make about them (depths, helpers, hops)."""

from __future__ import annotations

from tree_sitter import Node

from vfiolint.c import cparse
from vfiolint.c.definitions import Lookup, MacroDef, Member, RecordDef, Where
from vfiolint.c.facts import Facts
from vfiolint.c.flow import origin_locs
from vfiolint.c.syntax import text_of, walk
from vfiolint.inputs.images import SourceUnit, file_unit
from vfiolint.rules.engine import check_source
from vfiolint.rules.loader import Rule


def facts_of(source: str, path: str = "x.c") -> Facts:
    """Parse a snippet."""
    return Facts(cparse.parse(source.encode()), path)


def node(facts: Facts, text: str, kind: str | None = None, nth: int = 0) -> Node:
    """Return the nth node whose text is ``text`` (of a type, if given)."""
    found = [n for n in walk(facts.root) if text_of(n) == text and (kind is None or
                                                                     n.type == kind)]
    return found[nth]


# Origins ----------------------------------------------------------------------------------


def test_origin_through_a_member_set_in_another_function() -> None:
    facts = facts_of("""
struct pci_map { unsigned long long offset; };
static void record(struct pci_map *map, struct vfio_region_info *reg)
{
    map->offset = reg->offset;
}
static unsigned long use(struct pci_map *bar)
{
    unsigned long off = bar->offset;
    return off;
}
""")
    target = node(facts, "off", "identifier", nth=1)  # the return's
    traces = facts.flow.origins(target, lambda n: text_of(n) == "reg->offset")
    assert [[s.label for s in t] for t in traces] == [["reg->offset", "bar->offset", "off"]]
    assert [s.type.shown() if s.type else None for s in traces[0]] == [
        None, "unsigned long long", "unsigned long"]


def test_origin_through_a_call_and_an_out_parameter() -> None:
    facts = facts_of("""
static int get(int *fd, RAMBlock *rb)
{
    *fd = qemu_ram_get_fd(rb);
    return *fd >= 0;
}
static int helper(RAMBlock *rb) { return qemu_ram_get_fd(rb); }
static void f(RAMBlock *rb)
{
    int a, b;
    get(&a, rb);
    b = helper(rb);
    use(a, b);
}
""")
    is_fd = lambda n: n.type == "call_expression" and text_of(n).startswith("qemu_ram_get_fd")  # noqa: E731
    assert facts.flow.origins(node(facts, "a", "identifier", nth=2), is_fd)
    assert facts.flow.origins(node(facts, "b", "identifier", nth=2), is_fd)


def test_a_later_definition_does_not_reach_an_earlier_use_outside_a_loop() -> None:
    facts = facts_of("""
static void f(struct vfio_region_info *info)
{
    unsigned long x = 0;
    use(x);
    x = info->offset;
}
""")
    use = node(facts, "x", "identifier", nth=1)
    assert facts.flow.origins(use, lambda n: text_of(n) == "info->offset") == []


def test_forward_ends_at_a_sink_through_a_wrapper_parameter() -> None:
    facts = facts_of("""
static int rd(int fd, void *b, unsigned int off) { return pread(fd, b, 4, off); }
static int f(int fd, void *b, struct vfio_region_info *info)
{
    return rd(fd, b, info->offset);
}
""")
    src = node(facts, "info->offset")
    sink = node(facts, "off", "identifier", nth=1)
    traces = facts.flow.forward(src, lambda n: n.id == sink.id)
    ends = {end for _, end in traces}
    assert "sink" in ends
    trace = next(t for t, end in traces if end == "sink")
    assert [(s.note, s.type.shown() if s.type else None) for s in trace] == [
        ("value", None), ("passed", "unsigned int"), ("sink", None)]


def test_same_value_by_origin() -> None:
    facts = facts_of("""
static void f(VFIORegion *region, uint32_t table)
{
    uint64_t size = region->size;
    uint64_t other = table;
    check(size, region->size, other);
}
""")
    size = node(facts, "size", "identifier", nth=1)
    member = node(facts, "region->size", nth=1)
    other = node(facts, "other", "identifier", nth=1)
    assert origin_locs(facts.flow, size) & origin_locs(facts.flow, member)
    assert not origin_locs(facts.flow, other) & origin_locs(facts.flow, member)


# Guards -----------------------------------------------------------------------------------


def test_guards_by_branch_early_exit_and_operand() -> None:
    facts = facts_of("""
static void *f(struct vfio_region_info *info, int fd)
{
    if (!(info->flags & VFIO_REGION_INFO_FLAG_MMAP) || info->size < PAGE_SIZE)
        return NULL;
    if (fd >= 0 && ready(fd)) {
        return mmap(NULL, info->size, 0, 0, fd, info->offset);
    }
    return NULL;
}
""")
    call = node(facts, "mmap(NULL, info->size, 0, 0, fd, info->offset)")
    guards = [(text_of(g.atom), g.holds, g.kind) for g in facts.guards(call)]
    assert guards == [
        ("fd >= 0", True, "branch"), ("ready(fd)", True, "branch"),
        ("info->flags & VFIO_REGION_INFO_FLAG_MMAP", True, "exit"),
        ("info->size < PAGE_SIZE", False, "exit"),
    ]
    operand = node(facts, "ready(fd)")
    assert [(text_of(g.atom), g.holds) for g in facts.guards(operand)] == [
        ("fd >= 0", True), ("info->flags & VFIO_REGION_INFO_FLAG_MMAP", True),
        ("info->size < PAGE_SIZE", False)]


def test_an_or_that_held_fixes_nothing_and_x_equals_zero_is_not_x() -> None:
    facts = facts_of("""
static void f(int a, int b)
{
    if (a || b) { one(); }
    if ((a & F) == 0) return;
    two();
}
""")
    assert facts.guards(node(facts, "one()")) == []
    assert [(text_of(g.atom), g.holds) for g in facts.guards(node(facts, "two()"))] == [
        ("a & F", True)]


# Types, with the tree's definitions --------------------------------------------------------


class _Tree:
    """Definitions of a two-file tree: a header declares the struct and a macro."""

    key = "tree"

    def macro(self, name: str, near: str) -> Lookup[MacroDef]:
        if name == "PCI_VFIO_GET_REGION_ADDR":
            return Lookup(MacroDef(name, ("x",), "((uint64_t)(x) << 40)", Where("h.h", 3)))
        return Lookup()

    def record(self, tag: str, near: str) -> Lookup[RecordDef]:
        if tag == "bar":
            return Lookup(RecordDef("struct", "bar", (Member("size", "uint32_t"),),
                                    Where("h.h", 1)))
        return Lookup()

    def typedef(self, name: str, near: str) -> Lookup[object]:  # type: ignore[type-var]
        return Lookup()

    def function(self, name: str, near: str) -> Lookup[object]:  # type: ignore[type-var]
        return Lookup()

    def source(self, path: str) -> bytes | None:
        return None

    def __hash__(self) -> int:
        return hash(self.key)


def test_a_member_type_and_a_macro_from_the_tree(rules: list[Rule]) -> None:
    """A hazard whose parts sit in a header and the .c file: the narrow member and the
    offset-rebuilding macro are the header's."""
    source = """\
static void f(struct bar *b, struct vfio_region_info *reg, int fd, void *buf)
{
    b->size = reg->size;
    pread(fd, buf, 4, PCI_VFIO_GET_REGION_ADDR(2));
}
"""
    vfio003 = [r for r in rules if r.id == "VFIO003"]
    alone = check_source(file_unit("drivers/bus/pci/linux/x.c", source.encode()), vfio003,
                         "x.c")[0]
    assert alone == []
    unit = SourceUnit("drivers/bus/pci/linux/x.c", source.encode(), file_unit("x", b"").origin,
                      definitions=_Tree())  # type: ignore[arg-type]
    found = check_source(unit, vfio003, "x.c")[0]
    assert [(f.line, f.message) for f in found] == [
        (3, "region size (__u64) narrowed to 'uint32_t' on its way to stored state"),
        (4, "region offset rebuilt from the index (PCI_VFIO_GET_REGION_ADDR(2)), not read "
            "from vfio_region_info"),
    ]


# What the rule docs promise ---------------------------------------------------------------


VFIO004_CALLERS = """\
static int export(struct pci_dev *pdev, unsigned int bar, struct p2pdma_provider **p)
{
    *p = pcim_p2pdma_provider(pdev, bar);
    return *p ? 0 : -EINVAL;
}
static int one_up(struct pci_dev *pdev, unsigned int bar, struct p2pdma_provider **p)
{
    return export(pdev, bar, p);
}
static int two_up(struct pci_dev *pdev, unsigned int bar, struct p2pdma_provider **p)
{
    return one_up(pdev, bar, p);
}
int three_up(struct vfio_pci_core_device *vdev, unsigned int bar, struct p2pdma_provider **p)
{
    if (!vdev->bar_mmap_supported[bar])
        return -EINVAL;
    return two_up(vdev->pdev, bar, p);
}
int two_up_checked(struct vfio_pci_core_device *vdev, unsigned int bar,
                   struct p2pdma_provider **p)
{
    if (!vdev->bar_mmap_supported[bar])
        return -EINVAL;
    return one_up(vdev->pdev, bar, p);
}
"""


def test_vfio004_callers_count_two_levels_up_not_three(rules: list[Rule]) -> None:
    """VFIO004's doc: "in every caller of it in the same file (two levels up)"."""
    vfio004 = [r for r in rules if r.id == "VFIO004"]
    path = "drivers/vfio/pci/vfio_pci_dmabuf.c"
    found = check_source(file_unit(path, VFIO004_CALLERS.encode()), vfio004, path)[0]
    assert [(f.line, f.function) for f in found] == [(3, "export")]  # three_up is too far
    checked_two = VFIO004_CALLERS.replace("    return one_up(pdev, bar, p);\n}\nint three_up",
                                          "    return -EINVAL;\n}\nint three_up")
    found = check_source(file_unit(path, checked_two.encode()), vfio004, path)[0]
    assert found == []  # two_up_checked's check covers one_up, which covers export


def test_vfio002_a_page_mask_of_another_value_is_no_check(rules: list[Rule]) -> None:
    """VFIO002's doc: a guard counts only when it checks the same value as the mapping."""
    vfio002 = [r for r in rules if r.id == "VFIO002"]
    source = """\
static void f(struct kvm *kvm, struct vfio_region_info *info, int fd, u64 gpa, u32 other)
{
    void *p;
    if (!(info->flags & VFIO_REGION_INFO_FLAG_MMAP) || (CHECKED & (PAGE_SIZE - 1)))
        return;
    p = mmap(NULL, info->size, PROT_READ, MAP_SHARED, fd, info->offset);
    kvm__register_dev_mem(kvm, gpa, info->size, p);
}
"""
    for checked, fires in (("other", True), ("gpa", True), ("info->size", False)):
        text = source.replace("CHECKED", checked)
        found = check_source(file_unit("vfio/core.c", text.encode()), vfio002, "core.c")[0]
        assert bool(found) == fires, checked


# Engine keys for server-side families: sanitize = "function", same_root, members --------------


def _judge(spec: dict[str, object], source: str, path: str = "lib/x.c") -> list[int]:
    """Judge one flow table on a snippet; return the 1-based lines of its findings."""
    from vfiolint.rules.flows import judge
    from vfiolint.rules.flowspec import check_flow, flow_spec
    from vfiolint.rules.predicates import Context

    assert check_flow(spec) == []
    unit = file_unit(path, source.encode())
    ctx = Context(unit, Facts(cparse.parse(source.encode()), path))
    return sorted({m.node.start_point.row + 1 for m in judge(flow_spec(spec), ctx)})


READS_OF_REQ = """
((field_expression argument: (identifier) @length field: (field_identifier) @field) @sink
 (#eq? @length "req") (#not-eq? @field "argsz"))
"""
ARGSZ_TEST = """
((binary_expression left: (field_expression argument: (identifier) @checked
   field: (field_identifier) @f)) @sanitizer (#eq? @f "argsz"))
"""


def test_sanitize_function_takes_a_check_anywhere_in_the_function_or_its_callees() -> None:
    spec = {"sinks": READS_OF_REQ, "sanitizers": ARGSZ_TEST, "sanitize": "function",
            "same_value": "@length", "report": "sink"}
    source = """
static int validate(struct vfio_irq_set *req) { return req->argsz < sizeof(*req); }
static int later(struct vfio_irq_set *req)
{
    use(req->index);
    if (req->argsz < sizeof(*req))
        return -1;
    return 0;
}
static int helper(struct vfio_irq_set *req)
{
    if (validate(req))
        return -1;
    return req->index;
}
static int sibling(struct vfio_irq_set *req)
{
    return req->index;
}
static int dispatch(struct vfio_irq_set *req)
{
    return helper(req) + sibling(req);
}
"""
    # later(): a check after the use still counts; helper(): its callee checks; sibling():
    # the check its caller's other callee makes is not its own.
    assert _judge(spec, source) == [18]
    assert _judge({**spec, "sanitize": "guard"}, source) == [5, 18]


SIZES_OF_REQ = """
((field_expression argument: (_) @obj field: (field_identifier) @field) @source
 (#eq? @field "size") (#match? @obj "req"))
"""
ALLOC = """
((call_expression function: (identifier) @sinkcall arguments: (argument_list (_) @sink))
 (#eq? @sinkcall "malloc"))
"""
CAP = """
((binary_expression left: (_) @checked operator: ">" right: (identifier) @limit) @sanitizer
 (#eq? @limit "MAX") (#set! holds "false"))
"""


def test_same_root_takes_a_cap_on_another_member_of_the_same_struct() -> None:
    spec = {"sources": SIZES_OF_REQ, "sinks": ALLOC, "sanitizers": CAP,
            "same_value": "@source", "report": "sink"}
    source = """
static void *f(struct req *req, struct req *other)
{
    if (req->argsz > MAX || other->size > MAX)
        return NULL;
    return malloc(req->bitmap->size);
}
"""
    assert _judge(spec, source) == [6]  # other->size is another value, req->argsz too
    assert _judge({**spec, "same_root": True}, source) == []  # req->argsz is req's
    assert _judge({**spec, "same_root": True},
                  source.replace("req->argsz > MAX", "other->argsz > MAX")) == [6]


def test_same_root_callers_must_test_what_they_pass() -> None:
    spec = {"sources": SIZES_OF_REQ, "sinks": ALLOC, "sanitizers": CAP,
            "same_value": "@source", "same_root": True, "report": "sink"}
    source = """
static void *alloc_for(struct req *req) { return malloc(req->size); }
static void *caller(struct req *mine, struct req *yours)
{
    if (CHECKED->argsz > MAX)
        return NULL;
    return alloc_for(mine);
}
"""
    assert _judge(spec, source.replace("CHECKED", "mine")) == []
    assert _judge(spec, source.replace("CHECKED", "yours")) == [2]


def test_members_function_keeps_a_stored_value_in_its_function() -> None:
    spec = {"sources": SIZES_OF_REQ, "sinks": ALLOC, "report": "sink"}
    source = """
static void store(struct msg *msg, struct req *req) { msg->out_size = req->size; }
static void *other(struct msg *msg) { return malloc(msg->out_size); }
static void *same(struct msg *msg, struct req *req)
{
    msg->out_size = req->size;
    return malloc(msg->out_size);
}
"""
    assert _judge(spec, source) == [3, 7]
    assert _judge({**spec, "members": "function"}, source) == [7]


def test_a_later_or_shared_guard_is_no_case_split() -> None:
    """_overridden: another value given to a location counts only when it may reach the trace
    and its guard is not one the trace shares."""
    spec = {"sources": SIZES_OF_REQ, "sinks": ALLOC, "sanitizers": CAP, "report": "sink"}
    source = """
static void *later(struct req *req, size_t n)
{
    size_t len = req->size;
    void *p = malloc(len);
    if (n > MAX)
        len = 0;
    return p;
}
static void *shared(struct req *req, size_t n)
{
    size_t len;
    if (n > MAX) {
        len = 16;
        len += req->size;
        return malloc(len);
    }
    return NULL;
}
static void *split(struct req *req, size_t n)
{
    size_t len = req->size;
    if (n > MAX)
        len = 16;
    return malloc(len);
}
"""
    assert _judge(spec, source) == [5, 16]  # split() tells the cases apart: not reported


def test_untrusted_request_recognises_what_the_other_side_sent() -> None:
    from vfiolint.rules.predicates import untrusted_request

    facts = facts_of("""
static long kernel_ioctl(void __user *arg)
{
    struct vfio_region_info info;
    struct vfio_region_info built = { .argsz = sizeof(built) };
    if (copy_from_user(&info, arg, 16))
        return -EFAULT;
    return use(info.index, built.index);
}
static int server(vfu_msg_t *msg)
{
    struct vfio_irq_info *in = msg->in.iov.iov_base;
    struct vfio_irq_info *out = msg->out.iov.iov_base;
    struct other_struct *not_vfio = msg->in.iov.iov_base;
    return use(in->index, out->index, not_vfio->index);
}
static int handler(struct vfio_region_info *req) { return req->index; }
static int helper(struct vfio_region_info *req) { return req->index; }
static int dispatch(void *cmd_data, struct vfio_region_info *typed)
{
    struct vfio_region_info *got = malloc(sizeof(*got));
    recv(0, got, sizeof(*got), 0);
    return handler(cmd_data) + helper(typed) + got->index;
}
""")

    def judged(name: str, nth: int) -> tuple[bool, bool]:
        ident = node(facts, name, "identifier", nth)
        return untrusted_request(facts, ident, True), untrusted_request(facts, ident, False)

    assert judged("info", 2) == (True, True)  # copied in
    assert judged("built", 2) == (False, False)  # built here
    assert judged("in", 1) == (True, True)  # the client's message
    assert judged("out", 1) == (False, False)  # the reply
    assert judged("not_vfio", 1) == (False, False)
    assert judged("req", 1) == (True, True)  # passed cmd_data
    assert judged("got", 3) == (True, True)  # received into


# Flow options: kills, clear_ends, discarded, sources without sinks -----------------------


def test_forward_with_kills_hides_an_earlier_value_behind_a_later_assignment() -> None:
    facts = facts_of("""
static int f(int fd, void *a, void *b)
{
    int ret;
    ret = pread(fd, a, 4, 0);
    if (ret < 0)
        return -1;
    ret = pread(fd, b, 8, 4);
    if (ret != 8)
        return -1;
    return 0;
}
""")
    first = node(facts, "pread(fd, a, 4, 0)")
    tested = {text_of(t[-1].node) for t, end in facts.flow.forward(
        first, lambda n: False, lambda n: text_of(n.parent) == "ret != 8")
        if end == "barrier"}
    assert tested == {"ret"}  # without kills, the second read's test is reached
    assert not [t for t, end in facts.flow.forward(
        first, lambda n: False, lambda n: text_of(n.parent) == "ret != 8", kills=True)
        if end == "barrier"]


def test_kills_only_by_an_unconditional_assignment() -> None:
    facts = facts_of("""
static int f(int fd, void *a, int again)
{
    int ret = pread(fd, a, 4, 0);
    if (again)
        ret = pread(fd, a, 4, 0);
    return ret != 4;
}
""")
    first = node(facts, "pread(fd, a, 4, 0)")
    ends = [end for _, end in facts.flow.forward(
        first, lambda n: False, lambda n: text_of(n.parent) == "ret != 4", kills=True)]
    assert "barrier" in ends  # the second assignment may not run: the first value reaches


def _reported(flow: dict[str, object], source: str, path: str = "drivers/x/y.c") -> list[int]:
    """Judge one flow table on a snippet; return the 1-based lines of what it reports."""
    from vfiolint.rules.flows import judge
    from vfiolint.rules.flowspec import check_flow, flow_spec
    from vfiolint.rules.predicates import Context

    assert check_flow(flow) == []
    facts = facts_of(source, path)
    ctx = Context(file_unit(path, source.encode()), facts)
    return sorted(m.node.start_point.row + 1 for m in judge(flow_spec(flow), ctx))


READS = """\
static int f(int fd, void *a, void *b, void *c)
{
    int r1, r2;
    r1 = pread(fd, a, 4, 0);
    if (r1 < 0)
        return r1;
    r2 = pread(fd, b, 4, 0);
    if (r2 < 0 || r2 != 4)
        return -1;
    pread(fd, c, 4, 0);
    (void)pread(fd, c, 4, 0);
    return 0;
}
"""
UNCHECKED = {
    "name": "t",
    "sources": '((call_expression function: (identifier) @f) @source (#eq? @f "pread"))',
    "barriers": '((binary_expression right: (number_literal) @n) @barrier (#eq? @n "4"))',
    "ends": ["compare", "discarded"],
    "report": "source",
}


def test_clear_ends_barrier_clears_the_whole_source() -> None:
    # r2 is also tested '< 0' (a counted end), but one trace met the barrier.
    assert _reported({**UNCHECKED, "clear_ends": ["barrier"]}, READS) == [4, 10, 11]
    assert _reported(UNCHECKED, READS) == [4, 7, 10, 11]  # without it, the '< 0' trace counts


def test_discarded_is_thrown_away_where_made_not_merely_unused() -> None:
    only_discarded = {**UNCHECKED, "ends": ["discarded"]}
    assert _reported(only_discarded, READS) == [10, 11]


def test_a_flow_of_sources_needs_sinks_or_ends_beyond_sink() -> None:
    from vfiolint.rules.flowspec import check_flow

    assert check_flow({"sources": "((identifier) @source)"}) != []
    assert check_flow({"sources": "((identifier) @source)", "ends": ["compare"]}) == []
    assert check_flow({"sources": "((identifier) @source)", "ends": ["compare"],
                       "clear_ends": ["barrier"]}) == [
        "flow: clear_ends 'barrier' needs 'barriers'"]
    assert check_flow({"sources": "((identifier) @source)", "ends": ["compare"],
                       "clear_ends": ["nowhere"]})[0].startswith(
        "flow: clear_ends: 'nowhere' is not one of")


def test_a_local_is_answered_from_its_function_alone_with_the_same_answer() -> None:
    """defs()/uses() of a local walk only its function; the whole unit's index agrees."""
    from vfiolint.c.flow import Loc

    source = """
int g;
static int f(int fd) { int ret = read(fd, 0, 4); g = ret; return ret; }
static int h(void) { int ret = 2; return ret + g; }
"""
    lazy, eager = facts_of(source), facts_of(source)
    eager.flow.tables()
    for fn_name in ("f", "h"):
        fn = lazy.symbols.by_name(fn_name)[0]
        twin = eager.symbols.by_name(fn_name)[0]
        loc, twin_loc = Loc("var", "ret", fn.id), Loc("var", "ret", twin.id)
        assert [text_of(v) for v, _ in lazy.flow.defs(loc)] == \
            [text_of(v) for v, _ in eager.flow.defs(twin_loc)]
        assert [u.start_byte for u in lazy.flow.uses(loc)] == \
            [u.start_byte for u in eager.flow.uses(twin_loc)]
    assert lazy.flow._tables is None  # no question so far needed the whole unit


def test_keywords_joined_by_ampersand_need_every_part_in_text_or_path() -> None:
    from dataclasses import replace

    from vfiolint.config import Config
    from vfiolint.rules.engine import rules_for
    from vfiolint.rules.loader import load_rules

    base = next(r for r in load_rules() if r.id == "VFIO004")
    rule = replace(base, keywords=(b"vfio&fd",), paths=())
    assert rules_for([rule], "lib/x.c", Config(), b"int fd;") == []
    assert rules_for([rule], "lib/x.c", Config(), b"vfio fd") == [rule]
    assert rules_for([rule], "lib/x_vfio.c", Config(), b"int fd;") == [rule]  # the path counts


# Flow specs: around sanitisers and the callers' guards -------------------------------------------


def _judged(source: str, **table: object) -> list[int]:
    """Judge one [[flow]] table on a snippet; return the lines of its findings."""
    from vfiolint.rules.flows import judge
    from vfiolint.rules.flowspec import flow_spec
    from vfiolint.rules.predicates import Context

    facts = facts_of(source)
    ctx = Context(file_unit("x.c", source.encode()), facts)
    return sorted(m.node.start_point.row + 1 for m in judge(flow_spec(table), ctx))


SUM_FLOW = {
    "sources": "((field_expression field: (field_identifier) @f) @source "
               "(#any-of? @f \"offset\" \"len\"))",
    "sinks": "((binary_expression left: (binary_expression operator: \"+\") @sink "
             "operator: \">\"))",
    "around": "((call_expression function: (identifier) @fn "
              "arguments: (argument_list (_) @checked)) @sanitizer (#eq? @fn \"wrap_ok\"))",
    "same_value": "@source",
    "report": "sink",
}
SUM_SOURCE = """\
static int log_it(const char *s) { return 0; }
static int check(struct req *r, unsigned long size)
{
    log_it("x");
    if (!wrap_ok(CHECKED))
        return -1;
    return r->offset + 1 > size;
}
static int other(struct req *q)
{
    log_it("y");
    return wrap_ok(q->len);
}
"""


def test_an_around_sanitizer_with_checked_counts_only_for_the_same_value() -> None:
    assert _judged(SUM_SOURCE.replace("CHECKED", "r->offset"), **SUM_FLOW) == []
    assert _judged(SUM_SOURCE.replace("CHECKED", "r->len"), **SUM_FLOW) == [7]
    # Without @checked, an around sanitizer speaks of every value (VFIO001's kind).
    unchecked = {**SUM_FLOW, "around": SUM_FLOW["around"].replace(" (_) @checked", " (_)")}
    assert _judged(SUM_SOURCE.replace("CHECKED", "r->len"), **unchecked) == []


def test_around_depth_zero_looks_only_in_the_functions_of_the_trace() -> None:
    # other() checks the same member, reached through log_it(), which both call.
    source = SUM_SOURCE.replace("    if (!wrap_ok(CHECKED))\n        return -1;\n", "")
    source = source.replace("wrap_ok(q->len)", "wrap_ok(q->offset)")
    assert _judged(source, **SUM_FLOW) == []  # the neighbourhood joins them through log_it()
    assert _judged(source, **SUM_FLOW, around_depth=0) == [5]


def test_a_callers_guard_counts_only_for_the_same_value() -> None:
    flow = {
        "sources": "((field_expression field: (field_identifier) @f) @source "
                   "(#eq? @f \"offset\"))",
        "sinks": "((binary_expression left: (binary_expression operator: \"+\") @sink "
                 "operator: \">\"))",
        "sanitizers": "((binary_expression left: (_) @checked operator: \">\") @sanitizer "
                      "(#set! holds \"false\"))",
        "same_value": "@source",
        "report": "sink",
    }
    source = """\
static int check(struct req *r, unsigned long size)
{
    return r->offset + 1 > size;
}
static int caller(struct req *r, unsigned long size)
{
    if (CHECKED > 4096)
        return -1;
    return check(r, size);
}
"""
    assert _judged(source.replace("CHECKED", "r->offset"), **flow) == []
    assert _judged(source.replace("CHECKED", "size"), **flow) == [3]


def test_the_pre_filter_looks_for_a_second_part_only_where_the_first_is() -> None:
    from dataclasses import replace

    from vfiolint.config import Config
    from vfiolint.rules import engine, keywords
    from vfiolint.rules.loader import load_rules

    base = next(r for r in load_rules() if r.id == "VFIO004")
    rule = replace(base, keywords=(b"vfio&fd", b"vfu&fd"), paths=())
    text = b"int fd; /* a file of another driver */"
    assert engine.rules_for([rule], "lib/x.c", Config(), text) == []
    assert keywords._presence_memo(text) == {b"vfio": False, b"vfu": False}  # fd never scanned
    assert engine.rules_for([rule], "lib/x.c", Config(), b"vfu fd") == [rule]


def test_a_rule_path_glob_matches_the_file_however_it_is_named() -> None:
    from vfiolint.config import Config
    from vfiolint.rules.engine import rules_for
    from vfiolint.rules.loader import load_rules

    rule = next(r for r in load_rules() if r.id == "VFIO004")
    text = b"int pci_p2pdma_add_resource(struct pci_dev *pdev, int bar);"
    for path in ("drivers/pci/p2pdma.c", "./drivers/pci/p2pdma.c",
                 "/src/linux/drivers/pci/p2pdma.c"):
        assert rules_for([rule], path, Config(), text) == [rule], path
    assert rules_for([rule], "/src/linux/drivers/pci/p2pdma.h", Config(), text) == []
    assert rules_for([rule], "/src/linux/xdrivers/pci/p2pdma.c", Config(), text) == []


def test_a_keyword_part_marked_word_start_is_not_found_inside_a_word() -> None:
    from vfiolint.config import Config
    from vfiolint.rules.engine import rules_for
    from vfiolint.rules.loader import load_rules

    rule = next(r for r in load_rules() if r.id == "VFIO013")
    assert b"\\bpread" in rule.keywords
    spread = b"/* spread the load */\nstatic int rr_spread(int n) { return n; }\n"
    assert rules_for([rule], "app/test-pmd/cmdline_flow.c", Config(), spread) == []
    call = b"ret = pread64(vfio_dev_fd, &cap, sizeof(cap), off);\n"
    assert rules_for([rule], "drivers/bus/pci/linux/pci_vfio.c", Config(), call) == [rule]


def test_the_functions_near_some_are_those_whose_neighbourhood_holds_one() -> None:
    """``CallGraph.ball`` (one walk from the sources) gives what asking each function's
    neighbourhood gives: nearness goes both ways."""
    import random

    rnd = random.Random(3)
    names = [f"f{i}" for i in range(14)]
    body = "".join(
        f"static int {n}(int x)\n{{\n" + "".join(
            f"\tx += {c}(x);\n" for c in rnd.sample(names, rnd.randint(0, 2))) + "\treturn x;\n}\n"
        for n in names)
    facts = Facts(cparse.parse(body.encode()))
    functions = facts.symbols.functions()
    for _ in range(20):
        sources = rnd.sample(functions, rnd.randint(1, 3))
        ids = {f.id for f in sources}
        ball = facts.calls.ball(sources)
        for fn in functions:
            near = any(n.id in ids for n in facts.calls.neighbourhood(fn, 2))
            assert (fn.id in ball) == near


def test_sinks_in_context_are_found_in_the_places_that_can_hold_them() -> None:
    """A context of whole functions is asked of the unit's functions, and the sinks are then
    looked for only in the file-scope items that can be in context: the same hits, in the
    same order, as running both queries over the whole unit."""
    from tests.conftest import ROOT
    from vfiolint.rules.flows import FlowJudge, _hits, _key
    from vfiolint.rules.loader import load_rules
    from vfiolint.rules.predicates import Context

    specs = [s for r in load_rules() for s in r.flows if s.context is not None and s.sinks]
    assert specs  # VFIO012's descriptors are judged in VFIO code only
    files = sorted((ROOT / "corpus").rglob("*.c")) + sorted((ROOT / "rules").glob("*/*.c"))
    narrowed = 0
    for file in files:
        source = file.read_bytes()
        for path in ("lib/vfio/x.c", file.name):
            unit = file_unit(path, source)
            for spec in specs:
                ctx = Context(unit, Facts(cparse.parse(unit.text), path))
                judge = FlowJudge(spec, ctx)
                assert spec.context is not None and spec.sinks is not None
                root = ctx.facts.root
                assert [n.id for n in judge._context_hits()] == [
                    h.node.id for h in _hits(spec.context, "context", root, ctx)]
                whole = _hits(spec.sinks, "sink", root, ctx, judge._in_context)
                expected = list({_key(h.node): h for h in whole}.values())
                assert [(_key(h.node), h.captures.keys()) for h in judge._sinks_in_context()] \
                    == [(_key(h.node), h.captures.keys()) for h in expected]
                narrowed += judge._context_places() != [root]
    assert narrowed  # the narrowing was exercised


ZERO_SINKS = """
((binary_expression left: (identifier) @fd right: (number_literal) @zero) @sink
 (#eq? @zero "0"))
"""
PLACES = """\
static int gfd = -1;
static int table[] = { (gfd == 0) };           /* file scope: in context if any function is */
int outer(void)
{
	int inner(int fd) { return fd == 0; }  /* nested, called by VFIO code */
	return 1;
}
int vfio_caller(void) { return inner(3); }
#ifdef HAVE_X
static int in_block(int fd) { return fd == 0 || vfio_caller(); }
#endif
static int far_away(int fd) { return fd == 0; }
"""


def test_sinks_in_context_include_file_scope_and_nested_functions() -> None:
    """The file-scope items a sink in context can lie in: those that are not functions, and
    the functions that hold one in context, nested ones too."""
    from vfiolint.rules.flows import FlowJudge
    from vfiolint.rules.flowspec import flow_spec
    from vfiolint.rules.loader import load_rules
    from vfiolint.rules.predicates import Context

    load_rules()  # VFIO012's predicates, #vf-vfio-code? among them
    spec = flow_spec({"name": "zero", "sinks": ZERO_SINKS, "message": "m",
                      "context": "((function_definition) @context (#vf-vfio-code? @context))"})
    unit = file_unit("lib/x.c", PLACES.encode())
    ctx = Context(unit, Facts(cparse.parse(unit.text), unit.path))
    judge = FlowJudge(spec, ctx)
    assert judge._context_places() != [ctx.facts.root]  # narrowed
    rows = [h.node.start_point.row + 1 for h in judge._sinks_in_context()]
    assert rows == [2, 5, 10]  # not far_away()'s: nothing in VFIO code calls it


# The hop into a sink's parameter ----------------------------------------------------------


def test_a_sink_argument_is_typed_by_its_parameter_when_the_unit_declares_it() -> None:
    """A prototype (what the compiler sees first) or a definition types the hop into the
    sink's parameter; a pointer to a function, or a callee nobody declares, does not."""
    facts = facts_of("""
int read_cfg(int fd, void *buf, size_t len, uint32_t where);
static int read_def(int fd, uint32_t where) { return where; }
static int (*hook)(int fd, uint32_t where);
static void f(int fd, struct vfio_region_info *reg, void *buf)
{
    read_cfg(fd, buf, 2, reg->offset + 4);
    read_def(fd, reg->size);
    hook(fd, reg->offset);
    read_cfg_elsewhere(fd, buf, 2, reg->offset);
}
""")
    steps = {text: [(s.label, s.note, s.type.shown() if s.type else None)
                    for s in facts.flow.into_sink(node(facts, text))]
             for text in ("reg->offset + 4", "reg->size", "reg->offset")}
    assert steps["reg->offset + 4"] == [("reg->offset+4", "sink", None),
                                        ("read_cfg() parameter where", "passed", "uint32_t")]
    assert steps["reg->size"] == [("reg->size", "sink", None),
                                  ("read_def() parameter where", "passed", "uint32_t")]
    assert steps["reg->offset"] == [("reg->offset", "sink", None)]  # hook(): a variable
    elsewhere = node(facts, "reg->offset", nth=1)
    assert [s.note for s in facts.flow.into_sink(elsewhere)] == ["sink"]
    assert facts.symbols.prototype("read_cfg") is not None
    assert facts.symbols.prototype("hook") is None
    assert facts.symbols.prototype("read_def") is None  # a definition, not a declaration


def test_an_offset_passed_straight_to_a_declared_mapping_wrapper_narrows_at_the_wrapper(
        rules: list[Rule]) -> None:
    """The source is itself the sink's argument: the hop into the wrapper's parameter makes
    the finding one of the sink (medium confidence), not of a call out of view (low)."""
    source = """\
void *pci_map_resource(void *addr, int fd, uint32_t offset, size_t size, int flags);
static int map_bar(int fd, struct vfio_region_info *reg)
{
    return pci_map_resource(NULL, fd, reg->offset, reg->size, 0) == NULL;
}
"""
    vfio003 = [r for r in rules if r.id == "VFIO003"]
    found = check_source(file_unit("drivers/bus/pci/linux/x.c", source.encode()), vfio003,
                         "x.c")[0]
    assert [(f.line, f.message, f.confidence.value) for f in found] == [
        (4, "region offset (__u64) narrowed to 'uint32_t' on its way to pci_map_resource()",
         "medium")]
    assert [(s.text, s.note, s.type) for s in found[0].flow] == [
        ("reg->offset", "source", None),
        ("pci_map_resource() parameter offset", "passed", "uint32_t")]
