"""The offset-preserving C pre-pass (vfiolint.c.prepass).

Per macro shape: the plain parse has an ERROR/MISSING node, the neutralised text parses clean.
Always: same length, every newline at the same offset, nothing inside comments or literals
touched; a hazard inside a macro loop or after an attribute macro is reported at the same line
and column as in the original text.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from vfiolint.c import cparse, prepass
from vfiolint.inputs.images import file_unit
from vfiolint.rules.engine import match
from vfiolint.rules.loader import Rule, load_rules

TABLE = prepass.table_for((), None)
EXT = Path("/work/ext")


def functions(source: bytes) -> list[tuple[str, bool]]:
    """(name, has_error) of every function definition."""
    out = []
    stack = [cparse.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.type == "function_definition":
            declarator = node.child_by_field_name("declarator")
            while declarator is not None and declarator.type != "function_declarator":
                declarator = declarator.child_by_field_name("declarator")
            name = declarator.child_by_field_name("declarator") if declarator else None
            out.append((name.text.decode() if name and name.text else "?", node.has_error))
            continue
        stack.extend(node.children)
    return out


def function_rows(source: bytes) -> dict[int, bool]:
    """Start row -> has_error of every function definition."""
    return {n.start_point.row: n.has_error for n in _walk(cparse.parse(source).root_node)
            if n.type == "function_definition"}


def same_shape(before: bytes, after: bytes) -> None:
    """Length and newline offsets are preserved."""
    assert len(after) == len(before)
    assert [i for i, c in enumerate(after) if c == 10] == [i for i, c in enumerate(before)
                                                           if c == 10]


def fixed(source: str, table: prepass.MacroTable = TABLE) -> bytes:
    """Check the plain parse has errors and the neutralised one none; return the latter."""
    data = source.encode()
    assert cparse.parse(data).root_node.has_error, "the shape should defeat the plain parse"
    out = prepass.neutralise(data, table)
    same_shape(data, out)
    tree = cparse.parse(out)
    assert not tree.root_node.has_error, out.decode()
    return out


SHAPES = {
    "tailq_foreach": """
static void f(struct list *head)
{
	struct dev *d;

	TAILQ_FOREACH(d, head, next) {
		if (d->fd < 0)
			continue;
		close(d->fd);
	}
}
""",
    "rte_tailq_foreach_no_braces": """
int f(struct list *head)
{
	struct dev *d;
	int n = 0;

	RTE_TAILQ_FOREACH(d, head, next)
		n++;
	return n;
}
""",
    "list_for_each_entry": """
static int f(struct vfio_group *group)
{
	struct vfio_device *device;

	mutex_lock(&group->device_lock);
	list_for_each_entry(device, &group->device_list, group_next) {
		if (device->open_count)
			return -EBUSY;
	}
	return 0;
}
""",
    "qlist_foreach_safe": """
static void f(VFIOContainer *container)
{
    VFIOGuestIOMMU *giommu, *tmp;

    QLIST_FOREACH_SAFE(giommu, &container->giommu_list, giommu_next, tmp) {
        QLIST_REMOVE(giommu, giommu_next);
        g_free(giommu);
    }
}
""",
    "unlisted_for_each_name": """
static void f(struct iopt *iopt)
{
	struct area *area;

	my_driver_for_each_area(iopt, area) {
		area->pinned = 0;
	}
}
""",
    "scoped_guard": """
static int f(struct vfio_pci_core_device *vdev)
{
	scoped_guard(mutex, &vdev->igate) {
		vdev->irq_type = 0;
	}
	return 0;
}
""",
    "attribute_rte_unused": """
static int
f(void *arg __rte_unused, int fd)
{
	return fd;
}
""",
    "attribute_user_iomem": """
static long f(struct vfio_device *core_vdev, void __user *arg, void __iomem *io)
{
	return copy_from_user(io, arg, 4);
}
""",
    "attribute_gnu": """
static int __attribute__((unused)) __rte_always_inline
f(int a)
{
	return a;
}
""",
    "attribute_qemu_packed_g_autofree": """
static void f(void)
{
    g_autofree char *name = g_strdup("x");
    use(name);
}
""",
    "statement_export_symbol": """
RTE_EXPORT_SYMBOL(rte_pci_map_device)
int
rte_pci_map_device(struct rte_pci_device *dev)
{
	return 0;
}
""",
    "statement_rte_init_prio": """
RTE_INIT_PRIO(pci_init, BUS)
{
	pci_register();
}
""",
    "statement_type_init": """
static void register_types(void)
{
    type_register_static(&info);
}
type_init(register_types)
static int after(void)
{
    return 0;
}
""",
    "typename_container_of": """
static int f(struct vfio_device *core_vdev)
{
	struct vfio_pci_core_device *vdev =
		container_of(core_vdev, struct vfio_pci_core_device, vdev);
	return vdev->msix_bar;
}
""",
    "typename_min_t_pointer": """
static void f(unsigned long a, unsigned long b)
{
	unsigned long n = min_t(unsigned long, a, b);
	char *s = va_arg(ap, char *);
	use(n, s);
}
""",
    "typename_qlist_head": """
static QLIST_HEAD(, VFIOGroup) vfio_group_list =
    QLIST_HEAD_INITIALIZER(vfio_group_list);

static void f(void)
{
    use(&vfio_group_list);
}
""",
    "ifdef_unbalanced_head": """
static int f(int a, int b)
{
#ifdef USE_A
	if (a) {
#else
	if (b) {
#endif
		return 1;
	}
	return 0;
}
""",
    "ifdef_inside_expression": """
static int f(int a, int b)
{
	if (a
#ifdef USE_B
	    && b
#endif
	   )
		return 1;
	return 0;
}
""",
    "if_zero": """
static int f(int a)
{
#if 0
	this is ( not C
#endif
	return a;
}
""",
    "case_range": """
static int f(int index)
{
	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX ... VFIO_PCI_BAR5_REGION_INDEX:
		return 1;
	}
	return 0;
}
""",
    "unknown_statement_macro_without_semicolon": """
static int f(int *p)
{
	int v;

	__ARCH_LOAD_EXC_16(p, v)
	if (v)
		__ARCH_SEVL()
	else
		__ARCH_WFE()
	return v;
}
""",
    "define_inside_initializer": """
static int f(void)
{
    const struct test tests[] = {
#define ENTRY(t) { t, setup }
        ENTRY(a),
        ENTRY(b),
    };
    return run(tests);
}
""",
    "local_loop_macro": """
#define for_all_regions(r, d) for ((r) = (d)->regions; (r); (r) = (r)->next)
#define WALK(r, d) for ((r) = (d)->regions; (r); (r) = (r)->next)

static int f(struct dev *d)
{
	struct region *r;

	WALK(r, d) {
		r->mapped = 0;
	}
	return 0;
}
""",
    "declarator_macro": """
static const char *f(int e)
{
	static RTE_DEFINE_PER_LCORE(char, retval[64]);
	return retval;
}
""",
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_parses_after_prepass(name: str) -> None:
    out = fixed(SHAPES[name])
    assert functions(out), "the function must still be there"
    assert not any(err for _, err in functions(out))


def test_loop_becomes_a_loop_and_keeps_its_arguments() -> None:
    out = fixed(SHAPES["tailq_foreach"]).decode()
    assert "\twhile        (d, head, next) {" in out
    tree = cparse.parse(out.encode())
    loops = [n for n in _walk(tree.root_node) if n.type == "while_statement"]
    assert len(loops) == 1


def test_ifdef_keeps_the_first_branch() -> None:
    out = fixed(SHAPES["ifdef_unbalanced_head"]).decode()
    assert "if (a) {" in out and "if (b)" not in out and "#" not in out
    out = fixed(SHAPES["if_zero"]).decode()
    assert "not C" not in out and "return a;" in out


def test_balanced_ifdef_is_left_to_tree_sitter() -> None:
    text = b"""int f(void)
{
#ifdef X
	g();
#else
	h();
#endif
	return 0;
}
"""
    assert prepass.neutralise(text, TABLE) == text


def test_wrapped_function_name_stays_a_function_name() -> None:
    text = (b"int\nMOCK_DEFINE(dma_controller_remove_region)(dma_controller_t *dma, int x)\n"
            b"{\n    return x;\n}\n")
    out = prepass.neutralise(text, TABLE)
    same_shape(text, out)
    assert functions(out) == [("dma_controller_remove_region", False)]


def test_call_named_like_a_loop_is_not_rewritten() -> None:
    text = b"void f(void)\n{\n\tg_hash_table_foreach(table, fn, NULL);\n}\n"
    assert prepass.neutralise(text, TABLE) == text


def test_function_named_like_a_loop_is_not_rewritten() -> None:
    text = b"static void\nrte_foreach_dev(int a)\n{\n\treturn;\n}\n"
    assert prepass.neutralise(text, TABLE) == text


def test_comments_strings_and_directives_untouched() -> None:
    text = (b'/* TAILQ_FOREACH(a, b, c) { __rte_unused */\n'
            b'#define X(a) list_for_each_entry(a, b, c) {\n'
            b'static const char *s = "container_of(p, struct x, m) __user";\n'
            b'// RTE_EXPORT_SYMBOL(x)\n'
            b"static char c = '(';\n")
    assert prepass.neutralise(text, TABLE) == text


def test_configured_names() -> None:
    text = "static void f(void)\n{\n\tMY_WALK(x, y, z) {\n\t\tg(x);\n\t}\n}\n"
    table = prepass.table_for((("for-each", ("MY_WALK",)),), None)
    out = fixed(text, table)
    assert b"while  (x, y, z) {" in out
    attr = "static int f(int a MY_UNUSED_ATTR)\n{\n\treturn a;\n}\n"
    fixed(attr, prepass.table_for((("attribute", ("MY_UNUSED_ATTR",)),), None))


# --- .clang-format -------------------------------------------------------------------------

CLANG_FORMAT = """\
# SPDX-License-Identifier: GPL-2.0
---
AccessModifierOffset: -4
BraceWrapping:
  AfterClass: false
ForEachMacros:
  - 'apei_estatus_for_each_section'
  - 'list_for_each_entry'
  # a comment between items
  - "hash_for_each_possible"
  - xa_for_each

AttributeMacros: [__user, '__iomem', "__rcu"]
StatementMacros: [Q_UNUSED,
                  QT_REQUIRE_VERSION]   # trailing comment
TypenameMacros:
  - STACK_OF
  - LIST
WhitespaceSensitiveMacros: ['STRINGIZE']
IfMacros: ['KJ_IF_MAYBE']
ColumnLimit: 80
---
Language: Cpp
ForEachMacros: ['Q_FOREACH', BOOST_FOREACH]
"""


def test_from_clang_format_block_and_flow_lists() -> None:
    table = prepass.from_clang_format(CLANG_FORMAT)
    assert table.for_each == {"apei_estatus_for_each_section", "list_for_each_entry",
                              "hash_for_each_possible", "xa_for_each", "KJ_IF_MAYBE",
                              "Q_FOREACH", "BOOST_FOREACH"}
    assert table.attribute == {"__user", "__iomem", "__rcu"}
    assert table.statement == {"Q_UNUSED", "QT_REQUIRE_VERSION", "STRINGIZE"}
    assert table.typename == {"STACK_OF", "LIST"}


def test_from_clang_format_ignores_other_keys_and_scalars() -> None:
    table = prepass.from_clang_format("ForEachMacros: none\nColumnLimit: 80\n")
    assert table == prepass.MacroTable()
    assert prepass.from_clang_format("") == prepass.MacroTable()


def test_from_clang_format_kernel_file_when_present() -> None:
    kernel = Path("/usr/src")
    tarball = next(kernel.glob("linux-source-*/.clang-format"), None)
    if tarball is None:
        pytest.skip("no kernel .clang-format on this machine")
    table = prepass.from_clang_format(tarball.read_text())
    assert len(table.for_each) > 500 and "list_for_each_entry" in table.for_each


def test_table_for_merges_repo_and_config(tmp_path: Path) -> None:
    (tmp_path / ".clang-format").write_text("ForEachMacros: [REPO_LOOP]\n")
    table = prepass.table_for((("attribute", ("__cfg_attr",)), ("typename", ("CFG_T",))),
                              tmp_path)
    assert "REPO_LOOP" in table.for_each and "TAILQ_FOREACH" in table.for_each
    assert "__cfg_attr" in table.attribute and "CFG_T" in table.typename
    assert prepass.table_for((), tmp_path / "missing") == prepass.BUILTIN
    with pytest.raises(ValueError, match="unknown macro kind"):
        prepass.table_for((("loops", ("X",)),), None)


def test_table_is_hashable_and_frozen() -> None:
    table = prepass.KERNEL.with_merged(prepass.DPDK)
    assert hash(table) == hash(prepass.KERNEL.with_merged(prepass.DPDK))
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.for_each = frozenset()  # type: ignore[misc]


# --- length and newline preservation -------------------------------------------------------

C_TOKENS = [
    "(", ")", "{", "}", "[", "]", ";", ",", "\n", " ", "\t", "\\\n", '"', "'", "/*", "*/",
    "//", "#if 0\n", "#ifdef X\n", "#else\n", "#endif\n", "#define F(a) for (;;)\n",
    "TAILQ_FOREACH(a, b, c)", "list_for_each_entry", "__rte_unused", "__attribute__((x))",
    "container_of(p, struct x, m)", "struct", "case 1 ... 3:", "RTE_EXPORT_SYMBOL(x)",
    "QLIST_HEAD(, X) l", "if (x)", "else", "foo(a)", "g_new0(struct a *, 1)", "= {",
    "MOCK_DEFINE(f)(int a)", "min_t(unsigned long, a, b)", "offsetof(T, a.b)", "x", "\r",
    "my_for_each(x)", "static", "int", "\x00", "é",
]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_keep_length_and_newlines(data: bytes) -> None:
    same_shape(data, prepass.neutralise(data, TABLE))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(C_TOKENS), max_size=60))
def test_c_like_text_keeps_length_and_newlines(tokens: list[str]) -> None:
    data = "".join(tokens).encode()
    out = prepass.neutralise(data, TABLE)
    same_shape(data, out)
    assert prepass.neutralise(data, TABLE) == out  # pure


def _corpus_files() -> list[Path]:
    files = sorted((ROOT / "rules").rglob("*.c"))
    for tree in ("linux/drivers/vfio/pci", "qemu/hw/vfio", "dpdk/drivers/bus/pci/linux",
                 "kvmtool/vfio", "libvfio-user/lib"):
        if (EXT / tree).is_dir():
            files += sorted((EXT / tree).glob("*.[ch]"))
    return files


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: str(p.name))
def test_corpus_file_keeps_length_newlines_and_functions(path: Path) -> None:
    data = path.read_bytes()
    out = prepass.neutralise(data, TABLE)
    same_shape(data, out)
    for offset in range(0, len(out)):  # only spaces, `_`, loop keywords and braces are written
        if out[offset] != data[offset]:
            assert out[offset] in b" _whilef{}-;", (path, offset)
    before, after = function_rows(data), function_rows(out)
    assert sum(after.values()) <= sum(before.values())  # no more broken functions
    # every function the plain parse read cleanly is still there, where it was
    assert {row for row, err in before.items() if not err} <= set(after)


# --- findings keep their line and column ---------------------------------------------------

def _walk(node):  # type: ignore[no-untyped-def]
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)


def _point(data: bytes, offset: int) -> tuple[int, int]:
    """0-based (row, column) of a byte offset, as tree-sitter reports it."""
    row = data.count(b"\n", 0, offset)
    return row, offset - (data.rfind(b"\n", 0, offset) + 1)


HAZARD_IN_TAILQ = b"""\
static int
pci_vfio_map_bars(struct rte_pci_device *dev __rte_unused, int vfio_dev_fd)
{
	struct mapped_pci_resource *vfio_res;
	void *bar_addr;

	TAILQ_FOREACH(vfio_res, vfio_res_list, next) {
		struct vfio_region_info *reg = vfio_res->reg;

		if (reg->flags & VFIO_REGION_INFO_FLAG_MMAP) {
			bar_addr = mmap(NULL, reg->size, PROT_READ, MAP_SHARED,
					vfio_dev_fd, reg->offset);
		}
	}
	return 0;
}
"""

HAZARD_IN_LIST_FOR_EACH = b"""\
static long vdev_map_all(struct my_dev *mdev, void __user *arg)
{
	struct my_region *region;
	struct my_state *st = container_of(mdev, struct my_state, mdev);

	list_for_each_entry(region, &st->regions, node) {
		if (region->info.flags & VFIO_REGION_INFO_FLAG_MMAP) {
			region->addr = mmap(NULL, region->info.size, PROT_READ | PROT_WRITE,
					    MAP_SHARED, st->fd, region->info.offset);
		}
	}
	return 0;
}
"""

HAZARD_AFTER_ATTRIBUTE = b"""\
static __rte_always_inline int __rte_warn_unused_result
map_one(struct vfio_region_info *info __rte_unused, struct bar *bar, int fd)
{
	uint64_t size __rte_unused = info->size;

	if (bar->flags & VFIO_REGION_INFO_FLAG_MMAP) {
		bar->addr = mmap(NULL, bar->size, PROT_READ, MAP_SHARED, fd, bar->offset);
	}
	return 0;
}
"""


@pytest.fixture(scope="module")
def vfio002() -> list[Rule]:
    return [r for r in load_rules() if r.id == "VFIO002"]


@pytest.mark.parametrize("text", [HAZARD_IN_TAILQ, HAZARD_IN_LIST_FOR_EACH,
                                  HAZARD_AFTER_ATTRIBUTE], ids=["tailq", "list", "attribute"])
def test_hazard_keeps_its_row_and_column(text: bytes, vfio002: list[Rule]) -> None:
    hazard = text.index(b"VFIO_REGION_INFO_FLAG_MMAP")
    condition = text.rindex(b"(", 0, hazard) + 1  # the if's condition, inside its `(`
    # (a) without the pre-pass the top-level item around the hazard holds ERROR/MISSING nodes
    plain = cparse.parse(text)
    around = [n for n in plain.root_node.children if n.start_byte <= hazard < n.end_byte]
    assert around and (around[0].has_error or around[0].is_error)
    # (b) with it: clean, and the nodes at the hazard are where the original text has them
    out = prepass.neutralise(text, TABLE)
    tree = cparse.parse(out)
    assert not tree.root_node.has_error
    flag = [n for n in _walk(tree.root_node)
            if n.type == "identifier" and n.text == b"VFIO_REGION_INFO_FLAG_MMAP"]
    assert len(flag) == 1
    assert (flag[0].start_point.row, flag[0].start_point.column) == _point(text, hazard)
    assert text[flag[0].start_byte:flag[0].end_byte] == b"VFIO_REGION_INFO_FLAG_MMAP"
    mmap_call = [n for n in _walk(tree.root_node) if n.type == "call_expression"
                 and n.child_by_field_name("function").text == b"mmap"]  # type: ignore[union-attr]
    assert len(mmap_call) == 1
    assert (mmap_call[0].start_point.row, mmap_call[0].start_point.column) == _point(
        text, text.index(b"mmap("))
    # the rule's finding, computed on the neutralised text, points at the original text
    matches = match(vfio002, file_unit("x.c", out))[0]
    assert len(matches) == 1
    row, column = _point(text, condition)
    assert (matches[0].span.line, matches[0].span.column) == (row + 1, column + 1)
    assert matches[0].function in {"pci_vfio_map_bars", "vdev_map_all", "map_one"}
