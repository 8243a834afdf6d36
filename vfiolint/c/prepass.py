"""Offset-preserving C pre-pass: make macro-heavy VFIO code parseable by tree-sitter-c.

tree-sitter parses C without the preprocessor, so kernel, QEMU and DPDK idioms such as
``list_for_each_entry(pos, head, member) {``, ``void __user *arg``, ``RTE_EXPORT_SYMBOL(f)``
without a semicolon, ``container_of(p, struct x, m)`` or an ``#ifdef`` that switches the head of
an ``if`` leave ERROR nodes that swallow whole functions. ``neutralise(source, table)`` rewrites
those shapes into plain C of **exactly the same length, with every newline at the same offset**,
so every (row, column) and byte offset tree-sitter reports on the rewritten text is valid for the
original text and findings need no mapping back.

Rewrites (all outside comments, string and character literals, and preprocessor directives;
names are matched as whole identifiers):

* for-each macros used as loops: ``NAME(args) {`` -> ``while   (args) {`` (the name becomes
  ``while`` padded with spaces, ``if`` when the name is shorter than 5 characters; the
  parentheses and arguments stay where they are, ``struct``/``union``/``enum`` keywords inside
  them are blanked). Only when the invocation starts a statement (after ``;``, ``{``, ``}``,
  ``)``, ``:``, ``else``, ``do`` or a directive) and a statement or ``{`` follows it, so a call
  such as ``g_hash_table_foreach(t, fn, p);`` is left alone. Besides the table, any identifier
  containing ``for_each``/``foreach``/``FOREACH``/``FOR_EACH`` is tried with the same checks.
* attribute macros: the name, and its balanced ``(...)`` if one follows, become spaces;
  ``__attribute__((...))``, ``__attribute`` and ``__declspec(...)`` likewise.
* statement macros (``RTE_EXPORT_SYMBOL(x)``, ``EXPORT_SYMBOL_GPL(x);``, ``module_param(...)``):
  at file level the invocation and a following ``;`` become spaces; inside braces an invocation
  without a ``;`` becomes spaces and one with a ``;`` is left as the call it already parses as.
  An invocation followed by ``{`` defines a function (``RTE_INIT_PRIO(name, prio) {``): only the
  arguments after the first are blanked, so it parses as ``RTE_INIT_PRIO(name) {``. One
  followed by ``(`` wraps a function name (``MOCK_DEFINE(f)(int a)``): ``MOCK_DEFINE(`` and its
  ``)`` are blanked. ``RTE_DEFINE_PER_LCORE(type, name)`` and its kin become ``type name``.
  Where a statement is required (after ``if (...)``, ``else``, a label) a blanked invocation
  becomes ``{ }`` of the same length.
* macros no table knows, ``NAME(args)`` at the start of a statement, ending its line without a
  ``;`` (``__RTE_ARM_SEVL()``, ``EAL_REGISTER_TAILQ(x)``): at file level, and inside braces
  when the next line is not more indented, a statement macro (blanked as above); inside braces
  before a ``{`` or a more indented line, a loop head (rewritten as ``while``). A
  ``#define NAME(...) for (...)`` (or ``while``/a for-each call) in the same file makes NAME a
  loop macro, and a ``#define NAME(...) container_of(...)`` (any typename macro) a typename
  macro, for that file.
* ``offsetof(T, a.b)``: the member path becomes ``a_b`` (tree-sitter wants one field name).
* typename macros: used as a type (``QLIST_HEAD(, VFIOGroup) list``, ``TAILQ_HEAD(n, t) *h``,
  i.e. an identifier or ``*`` follows) every argument but the last is blanked with its comma
  (``QLIST_HEAD(  VFIOGroup)`` is a macro type specifier); used as an expression
  (``container_of(p, struct x, m)``) ``struct``/``union``/``enum`` at the start of an argument
  become spaces and a multi-word type (``min_t(unsigned long, a, b)``) gets ``_`` for the blanks
  inside it (``unsigned_long``), which parses as an identifier.
* GNU case ranges ``case A ... B:`` -> ``case A  -  B:``-shaped (``...`` becomes `` - ``).
* conditional directives: ``#if 0`` blocks are blanked up to their ``#else``/``#elif``/
  ``#endif``. A ``#if``/``#ifdef``/``#ifndef`` group whose branches would not parse on their own
  -- opened inside parentheses (an ``#ifdef`` in the middle of a condition or argument list),
  a branch with unbalanced braces/parentheses (``#ifdef X\\n if (a) {\\n#else\\n if (b) {``),
  or a branch that stops in the middle of a statement or a function head -- is flattened:
  **the first branch is kept** as plain code (the ``#if`` side, as if its condition held; the
  ``#else`` side for ``#if 0``) and the directive lines and every other branch are blanked.
  Groups whose branches are whole statements, declarations or functions are left for
  tree-sitter, which parses them as ``preproc_if`` with every branch visible. Other directives
  (``#define``...) right after a line ending in ``,``, ``=``, ``(``, ``= {`` or an operator sit
  inside an expression or initializer and are blanked.

A ``#`` outside comments, literals and directive lines starts a directive (true of valid C).

The pass never inserts or removes a byte, never moves a newline and never edits text inside a
comment or literal except when that text is an argument of a macro it blanks as a whole.
Compiled patterns are cached per table (``functools.cache``); ``neutralise`` is pure.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

KINDS = ("for_each", "attribute", "statement", "typename")
CONFIG_KINDS = {"for-each": "for_each", "attribute": "attribute",
                "statement": "statement", "typename": "typename"}

# ---------------------------------------------------------------------------------------------
# Built-in tables, from the idioms of Linux drivers/vfio + iommufd, QEMU hw/vfio, DPDK EAL/PCI,
# SPDK, libvfio-user and kvmtool. Identifiers containing for_each/foreach/FOREACH/FOR_EACH are
# recognised as loop macros without being listed (the kernel's .clang-format list is built that
# way), so the lists below only hold loops named otherwise.
# ---------------------------------------------------------------------------------------------

_KERNEL_FOR_EACH = """
    scoped_guard scoped_cond_guard list_for_each_entry list_for_each_entry_safe
    hlist_for_each_entry xa_for_each xa_for_each_marked xa_for_each_range for_each_pci_dev
    for_each_set_bit for_each_sg for_each_possible_cpu for_each_online_cpu
    interval_tree_for_each_span iopt_for_each_contig_area rbtree_postorder_for_each_entry_safe
    hash_for_each hash_for_each_possible pci_walk_bus_locked
"""
_KERNEL_ATTRIBUTE = """
    __user __iomem __kernel __rcu __percpu __force __bitwise __nocast __safe __private
    __init __exit __initdata __initconst __exitdata __ref __refdata __devinit __devexit
    __read_mostly __ro_after_init __maybe_unused __always_unused __used __unused __must_check
    __always_inline __noinline noinline __cold __hot __pure __weak __visible __noreturn
    __packed __aligned __section __printf __scanf __malloc __deprecated __attribute_const__
    __acquires __releases __must_hold __cond_acquires __cond_releases __acquire __release
    __counted_by __counted_by_le __counted_by_be __sized_by __nonstring __free __cleanup
    __cacheline_aligned __cacheline_aligned_in_smp ____cacheline_aligned
    ____cacheline_aligned_in_smp ____cacheline_internodealigned_in_smp __randomize_layout
    __no_randomize_layout __latent_entropy __sched __kprobes notrace asmlinkage __naked
    __no_sanitize_address __no_kcsan __noinstr noinstr __flatten __designated_init
    __alias __copy __mode __gnu_inline __must_be_array __nocfi __no_stack_protector
    __always_used __iomem_noderef __data_racy __cpuidle __irq_entry __softirq_entry
    __exit_call __init_or_module __initdata_or_module __meminit __meminitdata __devinitdata
    __attribute_used__ __bpf_kfunc __diag __overloadable __assume_aligned __alloc_size
    __realloc_size __no_profile __user_or_kernel __le_or_be fallthrough_attr
"""
_KERNEL_STATEMENT = """
    EXPORT_SYMBOL EXPORT_SYMBOL_GPL EXPORT_SYMBOL_NS EXPORT_SYMBOL_NS_GPL EXPORT_SYMBOL_GPL_FUTURE
    EXPORT_SYMBOL_FOR_MODULES EXPORT_TRACEPOINT_SYMBOL EXPORT_TRACEPOINT_SYMBOL_GPL
    MODULE_LICENSE MODULE_AUTHOR MODULE_DESCRIPTION MODULE_VERSION MODULE_ALIAS
    MODULE_ALIAS_MISCDEV MODULE_DEVICE_TABLE MODULE_SOFTDEP MODULE_IMPORT_NS MODULE_FIRMWARE
    MODULE_PARM_DESC MODULE_INFO module_param module_param_named module_param_array
    module_param_cb module_param_string module_init module_exit module_pci_driver
    module_platform_driver module_fsl_mc_driver module_cdx_driver module_driver
    module_mdev_driver module_misc_device module_pci_driver_init
    late_initcall subsys_initcall device_initcall core_initcall arch_initcall fs_initcall
    postcore_initcall rootfs_initcall early_initcall pure_initcall late_initcall_sync
    early_param core_param __setup
    DEFINE_FREE DEFINE_GUARD DEFINE_GUARD_COND DEFINE_CLASS EXTEND_CLASS DEFINE_LOCK_GUARD_0
    DEFINE_LOCK_GUARD_1 DEFINE_LOCK_GUARD_1_COND DECLARE_BITMAP DEFINE_STATIC_KEY_FALSE
    DEFINE_STATIC_KEY_TRUE DECLARE_STATIC_KEY_FALSE DECLARE_STATIC_KEY_TRUE
    TRACE_EVENT TRACE_EVENT_FN DECLARE_EVENT_CLASS DEFINE_EVENT DEFINE_EVENT_PRINT
    TRACE_DEFINE_ENUM TRACE_DEFINE_SIZEOF TRACE_SYSTEM DEFINE_SHOW_ATTRIBUTE
    DEFINE_SIMPLE_ATTRIBUTE DEFINE_DEBUGFS_ATTRIBUTE DEFINE_SEQ_ATTRIBUTE
    ATTRIBUTE_GROUPS BUILD_BUG_ON static_assert _Static_assert
    ALLOW_ERROR_INJECTION NOKPROBE_SYMBOL DECLARE_PER_CPU DEFINE_PER_CPU
"""
_KERNEL_TYPENAME = """
    container_of container_of_const container_of_safe offsetof offsetofend sizeof_field
    typeof_member list_entry list_first_entry list_last_entry list_first_entry_or_null
    list_last_entry_or_null list_entry_rcu list_first_or_null_rcu hlist_entry hlist_entry_safe
    rb_entry rb_entry_safe llist_entry min_t max_t clamp_t umin umax typecheck __same_type
    va_arg flex_array_size struct_size_t DEFINE_RAW_FLEX DEFINE_FLEX __struct_group
    struct_group_tagged kmalloc_obj kzalloc_obj kmalloc_objs kzalloc_objs check_mul_overflow
    interval_tree_iter_first READ_ONCE_TYPE cmpxchg_type
"""

_QEMU_FOR_EACH = """
    QLIST_FOREACH QLIST_FOREACH_SAFE QLIST_FOREACH_RCU QLIST_FOREACH_SAFE_RCU QSLIST_FOREACH
    QSLIST_FOREACH_SAFE QSIMPLEQ_FOREACH QSIMPLEQ_FOREACH_SAFE QTAILQ_FOREACH
    QTAILQ_FOREACH_SAFE QTAILQ_FOREACH_REVERSE QTAILQ_FOREACH_REVERSE_SAFE QTAILQ_FOREACH_RCU
    QTAILQ_FOREACH_SAFE_RCU QSIMPLEQ_FOREACH_RCU WITH_QEMU_LOCK_GUARD WITH_RCU_READ_LOCK_GUARD
    WITH_JOB_LOCK_GUARD WITH_GRAPH_RDLOCK_GUARD WITH_QEMU_LOCK_GUARD_ WITH_BQL_LOCK_GUARD
    CPU_FOREACH CPU_FOREACH_SAFE CPU_FOREACH_REVERSE QEMU_LOCK_GUARD_LOOP
"""
_QEMU_ATTRIBUTE = """
    QEMU_PACKED QEMU_ALIGNED QEMU_NORETURN G_NORETURN QEMU_WARN_UNUSED_RESULT
    G_GNUC_WARN_UNUSED_RESULT G_GNUC_UNUSED G_GNUC_PRINTF G_GNUC_SCANF G_GNUC_MALLOC
    G_GNUC_CONST G_GNUC_PURE G_GNUC_NULL_TERMINATED G_GNUC_DEPRECATED G_GNUC_NO_INLINE
    G_GNUC_FORMAT G_GNUC_BEGIN_IGNORE_DEPRECATIONS G_GNUC_END_IGNORE_DEPRECATIONS
    G_GNUC_ALLOC_SIZE G_GNUC_ALLOC_SIZE2 G_GNUC_INTERNAL G_GNUC_NORETURN G_ALWAYS_INLINE
    G_NO_INLINE G_STATIC_ASSERT_EXPR G_GNUC_FALLTHROUGH
    QEMU_SENTINEL QEMU_FLATTEN QEMU_ALWAYS_INLINE QEMU_ERROR QEMU_NONSTRING QEMU_DISABLE_CFI
    QEMU_USED QEMU_COLD QEMU_MAY_ALIAS QEMU_ANNOTATE QEMU_NO_SANITIZE_THREAD
    QEMU_NO_SANITIZE_ADDRESS TSA_CAPABILITY TSA_GUARDED_BY TSA_PT_GUARDED_BY TSA_REQUIRES
    TSA_REQUIRES_SHARED TSA_EXCLUDES TSA_ACQUIRE TSA_ACQUIRE_SHARED TSA_RELEASE
    TSA_RELEASE_SHARED TSA_NO_TSA TSA_ASSERT TSA_ASSERT_SHARED TSA_RELEASE_GENERIC
    TSA_TRY_ACQUIRE TSA_TRY_ACQUIRE_SHARED
    coroutine_fn coroutine_mixed_fn no_coroutine_fn GRAPH_RDLOCK GRAPH_WRLOCK
    GRAPH_RDLOCK_PTR GRAPH_WRLOCK_PTR GRAPH_UNLOCKED GRAPH_UNLOCKED_PTR
    g_autofree G_GNUC_UNUSED_PARAM QEMU_GNUC_PREREQ_UNUSED
"""
_QEMU_STATEMENT = """
    type_init block_init opts_init trace_init module_init module_obj module_kconfig
    module_dep module_arch G_DEFINE_AUTOPTR_CLEANUP_FUNC G_DEFINE_AUTO_CLEANUP_FREE_FUNC
    G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC G_DEFINE_TYPE G_DEFINE_QUARK G_STATIC_ASSERT
    OBJECT_DECLARE_TYPE OBJECT_DECLARE_SIMPLE_TYPE OBJECT_DEFINE_TYPE
    OBJECT_DEFINE_TYPE_WITH_INTERFACES OBJECT_DEFINE_SIMPLE_TYPE
    OBJECT_DEFINE_SIMPLE_TYPE_WITH_INTERFACES OBJECT_DEFINE_ABSTRACT_TYPE
    DECLARE_INSTANCE_CHECKER DECLARE_CLASS_CHECKERS DECLARE_OBJ_CHECKERS
    QEMU_BUILD_BUG_ON QEMU_BUILD_BUG_MSG QEMU_BUILD_BUG_ON_ZERO DEFINE_TYPES
    QEMU_DEFINE_CO_CACHE VMSTATE_END_OF_LIST_ G_DEFINE_BOXED_TYPE
"""
_QEMU_TYPENAME = """
    QLIST_HEAD QSLIST_HEAD QSIMPLEQ_HEAD QTAILQ_HEAD QLIST_ENTRY QSLIST_ENTRY QSIMPLEQ_ENTRY
    QTAILQ_ENTRY container_of DO_UPCAST OBJECT_CHECK OBJECT_CLASS_CHECK OBJECT_GET_CLASS
    g_new g_new0 g_renew g_try_new g_try_new0 g_try_renew g_newa g_newa0 g_steal_pointer_type
    g_auto g_autoptr g_autolist g_autoslist g_autoqueue typeof_field sizeof_field endof
    QEMU_ALIGN_PTR_UP VMSTATE_STRUCT VMSTATE_STRUCT_ARRAY VMSTATE_STRUCT_POINTER
    VMSTATE_ARRAY_OF_POINTER_TO_STRUCT VMSTATE_STRUCT_VARRAY_UINT32
"""

_DPDK_FOR_EACH = """
    TAILQ_FOREACH TAILQ_FOREACH_SAFE TAILQ_FOREACH_REVERSE TAILQ_FOREACH_REVERSE_SAFE
    RTE_TAILQ_FOREACH RTE_TAILQ_FOREACH_SAFE LIST_FOREACH LIST_FOREACH_SAFE STAILQ_FOREACH
    STAILQ_FOREACH_SAFE SLIST_FOREACH SLIST_FOREACH_SAFE CIRCLEQ_FOREACH
    CIRCLEQ_FOREACH_REVERSE RTE_LCORE_FOREACH RTE_LCORE_FOREACH_WORKER RTE_ETH_FOREACH_DEV
    RTE_ETH_FOREACH_DEV_OWNED_BY RTE_ETH_FOREACH_VALID_DEV RTE_ETH_FOREACH_DEV_OF
    RTE_ETH_FOREACH_DEV_SIBLING RTE_ETH_FOREACH_MATCHING_DEV RTE_DMA_FOREACH_DEV
    RTE_EVENT_FOREACH_DEV RTE_BUS_FOREACH FOREACH_DEVICE_ON_PCIBUS FOREACH_DRIVER_ON_PCIBUS
    FOREACH_DEVICE_ON_AUXILIARY_BUS FOREACH_DRIVER_ON_AUXILIARY_BUS RTE_LIST_FOREACH
    SPDK_FOREACH TAILQ_FOREACH_FROM RTE_MEMSEG_LIST_FOREACH
"""
_DPDK_ATTRIBUTE = """
    __rte_acquire_capability __rte_acquire_shared_capability __rte_aligned __rte_alloc_align
    __rte_alloc_size __rte_always_inline __rte_assert_capability __rte_assert_exclusive_lock
    __rte_assert_shared_capability __rte_assert_shared_lock __rte_atomic __rte_cache_aligned
    __rte_cache_min_aligned __rte_capability __rte_cold __rte_dealloc __rte_dealloc_free
    __rte_deprecated __rte_deprecated_msg __rte_exclude_capability
    __rte_exclusive_lock_function __rte_exclusive_locks_required
    __rte_exclusive_trylock_function __rte_experimental __rte_format_printf __rte_guarded_by
    __rte_guarded_var __rte_hot __rte_internal __rte_lockable __rte_locks_excluded
    __rte_malloc __rte_may_alias __rte_no_asan __rte_no_thread_safety_analysis __rte_noinline
    __rte_noreturn __rte_packed __rte_packed_begin __rte_packed_end __rte_pure
    __rte_release_capability __rte_release_shared_capability __rte_requires_capability
    __rte_requires_shared_capability __rte_restrict __rte_section __rte_shared_lock_function
    __rte_shared_locks_required __rte_shared_trylock_function __rte_try_acquire_capability
    __rte_try_acquire_shared_capability __rte_unlock_function __rte_unused __rte_used
    __rte_warn_unused_result __rte_weak __rte_cache_aligned_ __rte_aligned_ __rte_nonnull
    __rte_nonstring __rte_msvc_pack __rte_packed_
    __rte_constructor __rte_destructor RTE_STD_C11 __extension__
    STATIC __always_unused __unused __packed __aligned __attribute_const__
    SPDK_STATIC_ASSERT_ __spdk_unused SPDK_PACKED SPDK_DEPRECATED spdk_unused
"""
_DPDK_STATEMENT = """
    RTE_EXPORT_SYMBOL RTE_EXPORT_INTERNAL_SYMBOL RTE_EXPORT_EXPERIMENTAL_SYMBOL
    RTE_INIT RTE_INIT_PRIO RTE_FINI RTE_FINI_PRIO RTE_LOG_REGISTER RTE_LOG_REGISTER_DEFAULT
    RTE_LOG_REGISTER_SUFFIX RTE_REGISTER_BUS RTE_PMD_REGISTER_PCI RTE_PMD_REGISTER_PCI_TABLE
    RTE_PMD_REGISTER_KMOD_DEP RTE_PMD_REGISTER_PARAM_STRING RTE_PMD_REGISTER_ALIAS
    RTE_PMD_REGISTER_VDEV RTE_PMD_EXPORT_NAME RTE_TRACE_POINT RTE_TRACE_POINT_FP
    RTE_TRACE_POINT_REGISTER RTE_TRACE_POINT_DEFINE RTE_BUILD_BUG_ON RTE_EAL_REGISTER_TAILQ
    RTE_INIT_CONSTRUCTOR RTE_TELEMETRY_REGISTER RTE_MEMPOOL_REGISTER_OPS RTE_LOG_REGISTER_TYPE
    __rte_diagnostic_push __rte_diagnostic_pop __rte_diagnostic_ignored_wcast_qual
    RTE_DEFINE_PER_LCORE RTE_DECLARE_PER_LCORE SPDK_LOG_REGISTER_COMPONENT SPDK_RPC_REGISTER
    SPDK_RPC_REGISTER_ALIAS_DEPRECATED SPDK_TRACE_REGISTER_FN SPDK_SUBSYSTEM_REGISTER
    SPDK_SUBSYSTEM_DEPEND SPDK_STATIC_ASSERT SPDK_BDEV_MODULE_REGISTER SPDK_ACCEL_MODULE_REGISTER
    SPDK_NVMF_TRANSPORT_REGISTER SPDK_SOCK_REGISTER_IMPL SPDK_LOG_DEPRECATION_REGISTER
    RTE_STATIC_ASSERT EAL_REGISTER_TAILQ RTE_PMD_REGISTER_DRIVER
"""
_DPDK_TYPENAME = """
    TAILQ_HEAD TAILQ_ENTRY RTE_TAILQ_HEAD RTE_TAILQ_ENTRY LIST_HEAD LIST_ENTRY STAILQ_HEAD
    STAILQ_ENTRY SLIST_HEAD SLIST_ENTRY CIRCLEQ_HEAD CIRCLEQ_ENTRY RTE_SIZEOF_FIELD
    container_of RTE_PTR_ADD_TYPE RTE_CAST_PTR RTE_CAST_FIELD SPDK_CONTAINEROF
    SPDK_SIZEOF SPDK_SIZEOF_MEMBER RTE_ATOMIC RTE_TAILQ_HEAD_ TAILQ_HEAD_INITIALIZER_
    TAILQ_LAST TAILQ_PREV RTE_PTR_ALIGN_TYPE rte_pktmbuf_mtod rte_pktmbuf_mtod_offset
    va_arg mock_ptr_type mock_type will_return_ptr_type cast_ptr_to_largest_integral_type
"""

# libvfio-user and kvmtool use kernel-style lists and attributes; their own additions.
_USERSPACE_ATTRIBUTE = """
    UNUSED EXPORT NORETURN bioscall
"""
_USERSPACE_STATEMENT = """
    core_init dev_init base_init dev_base_init virtio_dev_init firmware_init late_init
    dev_base_exit dev_exit virtio_dev_exit late_exit base_exit core_exit firmware_exit
    MOCK_DEFINE MOCK_DECLARE
"""
_USERSPACE_FOR_EACH = """
    list_for_each list_for_each_safe list_for_each_entry_reverse
"""


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(frozen=True, slots=True)
class MacroTable:
    """Macro names per shape the pre-pass rewrites (see the module docstring)."""

    for_each: frozenset[str] = frozenset()
    attribute: frozenset[str] = frozenset()
    statement: frozenset[str] = frozenset()
    typename: frozenset[str] = frozenset()

    @classmethod
    def of(cls, for_each: Iterable[str] = (), attribute: Iterable[str] = (),
           statement: Iterable[str] = (), typename: Iterable[str] = ()) -> MacroTable:
        """Build a table from name lists."""
        return cls(frozenset(for_each), frozenset(attribute), frozenset(statement),
                   frozenset(typename))

    def with_merged(self, other: MacroTable) -> MacroTable:
        """Return the union of two tables, kind by kind."""
        return MacroTable(self.for_each | other.for_each, self.attribute | other.attribute,
                          self.statement | other.statement, self.typename | other.typename)

    def with_names(self, kind: str, names: Iterable[str]) -> MacroTable:
        """Return a copy with more names of one kind (``for_each``/``for-each``, ...)."""
        key = CONFIG_KINDS.get(kind, kind)
        if key not in KINDS:
            raise ValueError(f"unknown macro kind {kind!r}")
        add = MacroTable.of(**{key: names})
        return self.with_merged(add)

    def names(self) -> frozenset[str]:
        """Every name of every kind."""
        return self.for_each | self.attribute | self.statement | self.typename


KERNEL = MacroTable.of(_words(_KERNEL_FOR_EACH) | _words(_USERSPACE_FOR_EACH),
                       _words(_KERNEL_ATTRIBUTE), _words(_KERNEL_STATEMENT),
                       _words(_KERNEL_TYPENAME))
QEMU = MacroTable.of(_words(_QEMU_FOR_EACH), _words(_QEMU_ATTRIBUTE), _words(_QEMU_STATEMENT),
                     _words(_QEMU_TYPENAME))
DPDK = MacroTable.of(_words(_DPDK_FOR_EACH), _words(_DPDK_ATTRIBUTE), _words(_DPDK_STATEMENT),
                     _words(_DPDK_TYPENAME))
USERSPACE = MacroTable.of((), _words(_USERSPACE_ATTRIBUTE), _words(_USERSPACE_STATEMENT), ())
BUILTIN = KERNEL.with_merged(QEMU).with_merged(DPDK).with_merged(USERSPACE)

# ---------------------------------------------------------------------------------------------
# .clang-format reading (no YAML library: the keys we want are plain lists of names)
# ---------------------------------------------------------------------------------------------

CLANG_FORMAT_KEYS = {
    "ForEachMacros": "for_each",
    "IfMacros": "for_each",  # `IF_MACRO(x) {` has the same shape as a loop head
    "AttributeMacros": "attribute",
    "StatementMacros": "statement",
    "WhitespaceSensitiveMacros": "statement",
    "TypenameMacros": "typename",
}
_KEY_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]*)\s*:\s*(.*)$")
_ITEM_RE = re.compile(r"^\s*-\s*(.*)$")


def _scalar(text: str) -> str:
    """One YAML scalar: strip a trailing comment and quotes."""
    text = text.strip()
    if text[:1] in "'\"":
        quote = text[0]
        end = text.find(quote, 1)
        return text[1:end] if end > 0 else text[1:]
    return text.split(" #", 1)[0].strip()


def _flow(text: str) -> list[str]:
    """The items of a flow list ``[A, 'B', "C"]`` (text after the ``[``, may lack the ``]``)."""
    items, buf, quote = [], "", ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
            else:
                buf += ch
        elif ch in "'\"":
            quote = ch
        elif ch in ",]":
            items.append(buf.strip())
            buf = ""
            if ch == "]":
                break
        elif ch == "#":
            break
        else:
            buf += ch
    if buf.strip():
        items.append(buf.strip())
    return [i for i in items if i]


def from_clang_format(text: str) -> MacroTable:
    """Read the macro lists of a ``.clang-format`` file (block ``- X`` or flow ``[X, Y]`` lists).

    Only top-level keys of the first document that holds them are read; keys that are not
    lists, and every other key, are ignored. Several documents (``---``, per-language
    sections) are merged.
    """
    found: dict[str, set[str]] = {k: set() for k in KINDS}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        match = _KEY_RE.match(line)
        if not match or match.group(1) not in CLANG_FORMAT_KEYS:
            continue
        kind = CLANG_FORMAT_KEYS[match.group(1)]
        rest = match.group(2).split(" #", 1)[0].strip() if not match.group(2).lstrip(
            ).startswith("[") else match.group(2).strip()
        if rest.startswith("["):
            flow = rest[1:]
            while "]" not in flow and i < len(lines):  # a flow list may span lines
                flow += " " + lines[i].strip()
                i += 1
            found[kind].update(_flow(flow))
            continue
        if rest:
            continue  # a scalar: not a list
        while i < len(lines):
            item_line = lines[i]
            stripped = item_line.strip()
            if not stripped or stripped.startswith("#"):
                i += 1
                continue
            item = _ITEM_RE.match(item_line)
            if item is None:
                break
            value = _scalar(item.group(1))
            if value:
                found[kind].add(value)
            i += 1
    return MacroTable.of(**{k: v for k, v in found.items()})


@cache  # one table per run: its inputs are fixed for the run
def table_for(config_macros: tuple[tuple[str, tuple[str, ...]], ...],
              repo: Path | None) -> MacroTable:
    """Built-in tables + the repository's ``.clang-format`` (when there is one) + configuration.

    ``config_macros`` is ``Config.macros``: ``(("for-each", (...)), ("attribute", (...)), ...)``.
    """
    table = BUILTIN
    if repo is not None:
        path = repo / ".clang-format"
        if path.is_file():
            with contextlib.suppress(OSError):
                table = table.with_merged(from_clang_format(path.read_text(errors="replace")))
    for kind, names in config_macros:
        table = table.with_names(kind, names)
    return table


# ---------------------------------------------------------------------------------------------
# The rewriting
# ---------------------------------------------------------------------------------------------

# Comments, string/char literals and directives, found with one pattern that starts with a
# character class (sre then skips quickly to the next candidate).
# Comments and string/char literals, in one pattern that starts with a character class (sre
# then skips quickly to the next candidate); a lone `/` matches too and is kept.
_COMMENT = rb"\*[^*]*\*+(?:[^/*][^*]*\*+)*/|\*.*"  # after the `/`; unterminated: to the end
_LINE_COMMENT = rb"/[^\n\\]*(?:\\.[^\n\\]*)*"  # after the `/`
_STRING = rb'"[^"\\\n]*(?:\\.[^"\\\n]*)*"?'
_CHAR = rb"'[^'\\\n]*(?:\\.[^'\\\n]*)*'?"
# the rest of a directive line after `#word`: text, literals, comments, continuation lines
_DIRECTIVE_BODY = (rb"(?:[^\n\\/\"']+|\\.|/(?:" + _COMMENT + rb")|//[^\n]*|/(?![*/])|" + _STRING
                   + rb"|" + _CHAR + rb")*")
_CONDITIONAL = rb"(?:if|ifdef|ifndef|elif|else|endif|elifdef|elifndef)\b"
# more comments and (non-conditional) directive lines right after a comment or directive
_RUN = (rb"(?:[ \t\r\f\v]*(?:/(?:" + _COMMENT + rb"|" + _LINE_COMMENT + rb"))"
        rb"|[ \t\r\f\v]*\n(?:[ \t\r\f\v]*\n)*[ \t\f\v\r]*(?:/(?:" + _COMMENT + rb"|"
        + _LINE_COMMENT + rb")|#[ \t]*(?!" + _CONDITIONAL + rb")\w*" + _DIRECTIVE_BODY + rb"))*")
# Comments, literals and directive lines, in one pattern that starts with a character class
# (sre then skips quickly to the next candidate); a lone `/` matches too and is kept. Runs of
# comments and plain directives come as one match; a conditional directive alone, with its word.
_LEX_RE = re.compile(
    rb"[/\"'#](?:(?<=/)(?:(?:" + _COMMENT + rb"|" + _LINE_COMMENT + rb")" + _RUN + rb")?"
    rb"|(?<=\")" + _STRING[1:] + rb"|(?<=')" + _CHAR[1:] +
    # outside literals, comments and directives, a `#` starts a directive (in valid C)
    rb"|(?<=#)[ \t]*(?:(?P<cond>" + _CONDITIONAL + rb")" + _DIRECTIVE_BODY
    + rb"|\w*" + _DIRECTIVE_BODY + _RUN + rb"))", re.S)


@cache
def _quoted_blank(quote: int, size: int) -> bytes:
    """A blanked one-line literal of ``size`` bytes: its quotes around spaces."""
    return bytes((quote,)) + b" " * (size - 2) + bytes((quote,))


def _lex(source: bytes) -> tuple[bytes, list[tuple[int, int, bytes]], list[tuple[int, int]],
                                 list[tuple[int, int]]]:
    """The code view of a text: comments, literal contents (quotes kept) and directive lines
    blanked. Also the conditional directives (start, end, word), the runs of other directives
    and comments (start, end), and those runs that follow a line ending in ``,``/``=``/``(``/
    ``{``/an operator (a directive in the middle of an expression or initializer)."""
    conds: list[tuple[int, int, bytes]] = []
    runs: list[tuple[int, int]] = []
    inside: list[tuple[int, int]] = []

    def blank(m: re.Match[bytes]) -> bytes:
        text = m.group()
        first = text[0]
        if first == 0x23:  # '#': a directive, or a run of them
            word = m.group("cond")
            if word is not None:
                conds.append((m.start(), m.end(), word))
            else:
                runs.append((m.start(), m.end()))
            return text.translate(_BLANK)
        size = len(text)
        if size < 2:
            return text
        if first == 0x2F:  # '/'
            if b"#" in text:  # a run of comments and directives
                runs.append(m.span())
            return text.translate(_BLANK) if b"\n" in text else b" " * size
        if text[-1] == first:
            if b"\n" not in text:
                return _quoted_blank(first, size)
            return text[:1] + text[1:-1].translate(_BLANK) + text[-1:]
        return text[:1] + text[1:].translate(_BLANK)

    code = _LEX_RE.sub(blank, source)
    # runs of directives right after a line ending in `,`, `=`, `(`, `{`, an operator: they
    # sit in the middle of an expression or initializer
    for start, end in runs:
        if source[start] == 0x23:
            line = source.rfind(b"\n", 0, start)
            if line >= 1 and code[line - 1] in _INSIDE_MARKS:
                inside.append((start, end))
    return code, conds, runs, inside


_WORDS_ONLY = bytes(c if (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A
                        or c == 0x5F) else 0x20 for c in range(256))
_BLANK = bytes(c if c == 0x0A else 0x20 for c in range(256))
_PAREN_RE = re.compile(rb"[()]")
_NESTING_RE = re.compile(rb"[()\[\]{},]")
_BLANKS = b" \t\n\r\f\v\\"
_SIG_RE = re.compile(rb"[^ \t\n\r\f\v\\]")
_LOOP_HINTS = (b"for_each", b"foreach", b"FOREACH", b"FOR_EACH")
_IDENT_AROUND = re.compile(rb"[A-Za-z0-9_]*")
_WORD_RE = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_TYPE_ARG_RE = re.compile(
    rb"\s*(?P<quals>(?:(?:const|volatile|struct|union|enum)\s+)*)"
    rb"(?P<words>[A-Za-z_]\w*(?:[ \t]+[A-Za-z_]\w*)*)"
    rb"(?P<stars>(?:\s*\*(?:\s*(?:const|volatile|restrict|__restrict)\b)?)*)\s*")
_IF_ZERO_RE = re.compile(rb"[ \t]*#[ \t]*if[ \t]+\(?0\)?[ \t]*(?:/[/*]|$|\n)", re.M)
_TYPE_WORDS = frozenset(b"unsigned signed long short int char const volatile float double "
                        b"_Bool bool void".split())
_STMT_BEFORE = frozenset(b";{}):")
_NOT_CALL = frozenset({b"if", b"while", b"for", b"switch", b"return", b"sizeof", b"do",
                       b"else", b"case", b"typeof", b"__typeof__", b"_Alignof", b"defined"})
_DECLARATOR_MACROS = frozenset(b"RTE_DEFINE_PER_LCORE RTE_DECLARE_PER_LCORE DEFINE_PER_CPU "
                               b"DECLARE_PER_CPU DEFINE_PER_CPU_READ_MOSTLY".split())
_MEMBER_PATH_RE = re.compile(rb"\s*[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\s*")
_LOCAL_DEFINE_RE = re.compile(
    rb"define[ \t]+([A-Za-z_]\w*)\([^)\n]*\)((?:[ \t]|\\\n)*[^\n]{0,80})")
_LOCAL_LOOP_RE = re.compile(rb"(?:\s|\\\n)*(?:(?:for|while)\s*\(|\w*(?:for_each|foreach|FOREACH)"
                            rb"\w*\s*\()")
_KEYWORDS = frozenset(b"if while for switch return sizeof do else case typeof __typeof__ "
                      b"_Alignof alignof defined __attribute__ __asm__ asm __asm volatile "
                      b"_Static_assert static_assert goto break continue".split())
# `)` ending a line, then a line starting a statement (a `{` in column 0 opens a function)
_LINE_END_CALL_RE = re.compile(rb"\)[ \t\r]*\n(?:[ \t\r\f\v]*\n)*(?:[ \t]+([A-Za-z_{}*])|([A-Za-z_}*]))")
_INSIDE_MARKS = frozenset(b",=([{?:|&+<-")
_KEYWORD_HEAD_RE = re.compile(rb"[ \t]*(?:\}[ \t]*)?(?:else[ \t]+)?(?:if|for|while|switch)[ \t]*\(")
_WORD_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
_MAX_ARGS = 20000  # give up on a "balanced" parenthesis further than this


@dataclass(frozen=True, slots=True)
class _Compiled:
    names: frozenset[bytes]
    kind: dict[bytes, str]


@cache
def _compiled(table: MacroTable) -> _Compiled:
    """Per-table compiled pattern and name -> kind map (first kind wins in this order)."""
    kind: dict[bytes, str] = {}
    for key in ("attribute", "typename", "statement", "for_each"):
        for name in getattr(table, key):
            kind[name.encode()] = key
    for name in (b"__attribute__", b"__attribute", b"__declspec"):
        kind[name] = "attribute"
    return _Compiled(frozenset(n for n in kind if _WORD_RE.fullmatch(n)), kind)


def _find_names(code: bytearray, present: Iterable[bytes], kinds: dict[bytes, str]
                ) -> list[tuple[int, int, str]]:
    """Occurrences of the given names as whole identifiers in the code view."""
    hits = []
    for name in present:
        kind = kinds[name]
        size = len(name)
        pos = code.find(name)
        while pos >= 0:
            end = pos + size
            if not _is_word(code, end) and (pos == 0 or not _is_word(code, pos - 1)):
                hits.append((pos, end, kind))
            pos = code.find(name, end)
    return hits


class _Rewriter:
    """One run of the pass over one source text."""

    def __init__(self, source: bytes, compiled: _Compiled) -> None:
        self.src = source
        self.out = bytearray(source)
        view, self.conds, self.runs, self.inside = _lex(source)
        code = bytearray(view)
        self.code = code
        # splitting the text into words (C speed) tells which names occur at all; only those
        # are then searched for, so the cost does not grow with the size of the table
        present = compiled.names.intersection(view.translate(_WORDS_ONLY).split())
        self.hits = _find_names(code, present, compiled.kind)

    # --- helpers over the code view (comments, literals and directives blanked) ---

    def next_sig(self, pos: int) -> int:
        """Index of the next non-blank byte of the code view at or after pos (len at end)."""
        m = _SIG_RE.search(self.code, pos)
        return m.start() if m else len(self.code)

    def prev_sig(self, pos: int) -> int:
        """Index of the previous non-blank byte before pos (-1 at start)."""
        code = self.code
        step = 128
        while pos > 0:
            low = max(0, pos - step)
            kept = len(code[low:pos].rstrip(_BLANKS))
            if kept:
                return low + kept - 1
            pos = low
            step *= 4
        return -1

    def arguments(self, end: int) -> tuple[int, int] | None:
        """Return the ``(`` and ``)`` of the balanced argument list right after a name."""
        open_pos = self.next_sig(end)
        if open_pos >= len(self.code) or self.code[open_pos] != 0x28:
            return None
        close = self.close_paren(open_pos)
        return None if close is None else (open_pos, close)

    def close_paren(self, open_pos: int) -> int | None:
        """Index of the ``)`` matching the ``(`` at open_pos, None when unbalanced."""
        depth = 0
        for m in _PAREN_RE.finditer(self.code, open_pos, open_pos + _MAX_ARGS):
            if m.group() == b"(":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return m.start()
        return None

    def blank(self, start: int, end: int) -> None:
        self.out[start:end] = self.src[start:end].translate(_BLANK)

    def drop(self, start: int, end: int) -> None:
        """Blank in the output and in the code view (later rewrites then ignore the text)."""
        self.out[start:end] = self.src[start:end].translate(_BLANK)
        self.code[start:end] = self.out[start:end]

    def put(self, pos: int, text: bytes) -> None:
        """Overwrite same-length text (never over a newline)."""
        assert b"\n" not in self.src[pos:pos + len(text)]
        self.out[pos:pos + len(text)] = text

    def args(self, open_pos: int, close_pos: int) -> list[tuple[int, int]]:
        """Spans of the top-level arguments between the parentheses."""
        spans, depth, start = [], 0, open_pos + 1
        for m in _NESTING_RE.finditer(self.code, open_pos + 1, close_pos):
            ch = m.group()
            if ch in b"([{":
                depth += 1
            elif ch in b")]}":
                depth -= 1
            elif depth == 0:  # ','
                spans.append((start, m.start()))
                start = m.end()
        spans.append((start, close_pos))
        return spans

    def word_before(self, pos: int) -> bytes:
        """The identifier ending just before pos (after blanks), or b''."""
        end = self.prev_sig(pos) + 1
        start = end
        while start > 0 and (chr(self.code[start - 1]).isalnum() or self.code[start - 1] == 0x5F):
            start -= 1
        return bytes(self.code[start:end])

    def at_statement_start(self, pos: int) -> bool:
        before = self.prev_sig(pos)
        if before < 0 or self.code[before] in _STMT_BEFORE:
            return True
        return self.word_before(pos) in (b"else", b"do")

    def blank_tags(self, start: int, end: int) -> None:
        """Make type arguments parse as expressions: blank struct/union/enum and qualifiers at
        the start of an argument and ``*`` at its end, join multi-word types with ``_``."""
        for a, b in self.args(start - 1, end):
            m = _TYPE_ARG_RE.fullmatch(self.code, a, b)
            if m is None:
                continue
            quals, words, stars = m.span("quals"), m.group("words").split(), m.span("stars")
            if quals[0] == quals[1] and stars[0] == stars[1] and len(words) == 1:
                continue  # a lone identifier: already an expression
            if len(words) > 1 and not all(w in _TYPE_WORDS for w in words):
                continue  # `a b`: not a type we know how to join
            self.blank(*quals)
            self.blank(*stars)
            w0, w1 = m.span("words")
            for i in range(w0, w1):
                if self.code[i] in b" \t":
                    self.out[i] = 0x5F  # '_'

    # --- the rewrites ---

    def for_each(self, start: int, end: int, listed: bool) -> int:
        """``NAME(args) stmt`` -> ``while(args) stmt``; returns where to continue."""
        found = self.arguments(end)
        if found is None:
            return end
        open_pos, close = found
        after = self.next_sig(close + 1)
        nxt = bytes(self.code[after:after + 1])
        follows = nxt == b"{" or (nxt.isalpha() or nxt == b"_")
        if listed and nxt in (b"*", b"(", b"+", b"-", b"&", b"!", b"~"):
            follows = True
        if not follows or not self.at_statement_start(start):
            return end
        if nxt.isalpha() or nxt == b"_":  # `NAME(args) else` / `NAME(args) return` ...
            word = _WORD_RE.match(self.code, after)
            if word and word.group() in (b"else",):
                return end
        length = end - start
        if length >= 5:
            self.put(start, b"while" + b" " * (length - 5))
        elif length >= 2:
            self.put(start, b"if" + b" " * (length - 2))
        else:
            return end
        self.blank_tags(open_pos + 1, close)
        return open_pos + 1

    def attribute(self, start: int, end: int) -> int:
        self.drop(start, end)
        found = self.arguments(end)
        if found is None:
            return end
        self.drop(found[0], found[1] + 1)
        return found[1] + 1

    def statement(self, start: int, end: int, depth: int) -> int:
        open_pos = self.next_sig(end)
        if open_pos >= len(self.code) or self.code[open_pos] != 0x28:
            after = self.next_sig(end)
            if depth == 0 or self.code[after:after + 1] != b";":
                self.void(start, end)  # a bare statement macro (`__rte_diagnostic_push`)
            return end
        close = self.close_paren(open_pos)
        if close is None:
            return end
        after = self.next_sig(close + 1)
        nxt = bytes(self.code[after:after + 1])
        if nxt == b"{":  # RTE_INIT_PRIO(name, prio) { ... }: a function definition
            spans = self.args(open_pos, close)
            if len(spans) > 1:
                self.blank(spans[0][1], close)
            return close + 1
        if nxt == b"(":  # MOCK_DEFINE(name)(params): a wrapped function name
            self.blank(start, open_pos + 1)
            self.blank(close, close + 1)
            return close + 1
        spans = self.args(open_pos, close)
        if bytes(self.code[start:end]) in _DECLARATOR_MACROS and len(spans) == 2:
            # RTE_DEFINE_PER_LCORE(type, name) -> `type name`: a declaration
            self.blank(start, open_pos + 1)
            self.blank(spans[0][1], spans[0][1] + 1)
            self.blank(close, close + 1)
            return close + 1
        if nxt == b";":
            if depth > 0:
                return close + 1
            self.blank(start, after + 1)
            return after + 1
        if depth > 0:
            self.void(start, close + 1)
        else:
            self.blank(start, close + 1)
        return close + 1

    def void(self, start: int, end: int) -> None:
        """Remove a statement that has no semicolon: spaces, or ``{  }`` where a statement is
        required (after ``if (...)``, ``else``, ``do``, a label)."""
        before = self.prev_sig(start)
        self.blank(start, end)
        needs = before >= 0 and (self.code[before] in b"):" or self.word_before(start) in (
            b"else", b"do"))
        if needs and end - start >= 2 and b"\n" not in self.src[start:start + 1] \
                and self.src[end - 1] != 0x0A:
            self.out[start] = 0x7B  # '{'
            self.out[end - 1] = 0x7D  # '}'

    def unknown_calls(self, compiled: _Compiled) -> None:
        """``NAME(args)`` of a macro no table knows, at the start of a statement, with no
        semicolon and a new line after it: a loop head when a ``{`` or a more indented line
        follows, else a statement macro (blanked)."""
        code = self.code
        depth = last = 0
        for m in _LINE_END_CALL_RE.finditer(code):
            close = m.start()
            if self.out[close] != 0x29:  # already rewritten (a table macro)
                continue
            if _KEYWORD_HEAD_RE.match(code, code.rfind(b"\n", 0, close) + 1):
                continue  # `if (...)` on one line: the common case, cheap to rule out
            nxt_pos = m.start(m.lastindex or 1)
            nxt = code[nxt_pos]
            open_pos = self.open_paren(close)
            if open_pos is None:
                continue
            name_end = self.prev_sig(open_pos) + 1
            window = bytes(code[max(0, name_end - 80):name_end])
            name = window[len(window.rstrip(_WORD_BYTES)):]
            name_start = name_end - len(name)
            if (not name or name[:1].isdigit() or name in _KEYWORDS
                    or name in compiled.kind or self.out[name_start] != code[name_start]):
                continue
            before = self.prev_sig(name_start)
            if (before >= 0 and code[before] not in b";{}):"
                    and self.word_before(name_start) not in (b"else", b"do")):
                continue
            depth += code.count(b"{", last, close) - code.count(b"}", last, close)
            last = close
            if depth <= 0:
                if nxt in b"{}*" or (before >= 0 and code[before] in b"):"):
                    continue
                self.blank(name_start, close + 1)
                continue
            word = _WORD_RE.match(code, nxt_pos)
            if nxt == 0x7B or (nxt != 0x7D and self.indent(nxt_pos) > self.indent(name_start)
                               and not (word and word.group() == b"else")):
                self.for_each(name_start, name_end, listed=True)
            elif name_end - name_start >= 2:
                self.void(name_start, close + 1)

    def indent(self, pos: int) -> int:
        """Width of the indentation of pos's line (a tab counts 8)."""
        line = self.src.rfind(b"\n", 0, pos) + 1
        width = 0
        for ch in self.src[line:pos]:
            if ch == 0x09:
                width = width // 8 * 8 + 8
            elif ch == 0x20:
                width += 1
            else:
                break
        return width

    def open_paren(self, close_pos: int) -> int | None:
        """Index of the ``(`` matching the ``)`` at close_pos, None when unbalanced."""
        code = self.code
        floor = max(0, close_pos - _MAX_ARGS)
        pos = close_pos
        while True:
            pos = code.rfind(b"(", floor, pos)
            if pos < 0:
                return None
            if code.count(b"(", pos, close_pos) == code.count(b")", pos, close_pos + 1):
                return pos

    def typename(self, start: int, end: int) -> int:
        """Blank the struct/union/enum keywords in a type-taking macro's arguments."""
        found = self.arguments(end)
        if found is None:
            return end
        open_pos, close = found
        if self.code[start:end] == b"offsetof":
            # offsetof(T, a.b): tree-sitter wants one field name; `a_b` keeps the length
            spans = self.args(open_pos, close)
            if len(spans) == 2 and _MEMBER_PATH_RE.fullmatch(self.code, *spans[1]):
                for i in range(*spans[1]):
                    if self.code[i] == 0x2E:
                        self.out[i] = 0x5F
            return close + 1
        after = self.next_sig(close + 1)
        nxt = bytes(self.code[after:after + 1])
        spans = self.args(open_pos, close)
        word = self.word_before(start)
        as_type = (nxt == b"*" or nxt.isalpha() or nxt == b"_") and word not in _NOT_CALL
        if as_type and len(spans) > 1:
            self.blank(open_pos + 1, spans[-1][0])
            return close + 1
        self.blank_tags(open_pos + 1, close)
        return open_pos + 1

    def local_macros(self, compiled: _Compiled) -> dict[bytes, str]:
        """Function-like macros this file defines as loops (``#define X(...) for (...)``) or
        as wrappers of a typename macro (``#define to_x(p) container_of(p, struct x, m)``)."""
        found: dict[bytes, str] = {}
        src, code = self.src, self.code
        for m in _LOCAL_DEFINE_RE.finditer(src):
            start = m.start()
            if code[start] != 0x20:  # not in a directive (code, or the inside of a literal)
                continue
            name = m.group(1)
            line = src.rfind(b"\n", 0, start) + 1
            if name in compiled.kind or src[line:start].strip(b" \t") not in (b"#", b"# "):
                continue
            body = m.group(2)
            if _LOCAL_LOOP_RE.match(body):
                found[name] = "for_each"
            else:
                call = _WORD_RE.search(body)
                if call and compiled.kind.get(call.group()) == "typename":
                    found[name] = "typename"
        return found

    def case_ranges(self) -> None:
        code = self.code
        pos = code.find(b"...")
        while pos >= 0:
            stop = max(code.rfind(b";", 0, pos), code.rfind(b"{", 0, pos),
                       code.rfind(b"}", 0, pos), code.rfind(b":", 0, pos))
            head = code[stop + 1:pos].lstrip()
            if head.startswith(b"case") and not head[4:5].isalnum():
                self.put(pos, b" - ")
            pos = code.find(b"...", pos + 3)

    def conditionals(self) -> None:
        """Flatten #if groups whose branches do not parse on their own (see module doc);
        blank other directives that sit inside an expression or initializer."""
        groups: list[list[tuple[int, int]]] = []
        zero: set[int] = set()
        stack: list[list[tuple[int, int]]] = []
        for s, e, word in self.conds:
            if word in (b"if", b"ifdef", b"ifndef"):
                stack.append([(s, e)])
                if word == b"if" and _IF_ZERO_RE.match(self.src, s, e):
                    zero.add(s)
            elif word == b"endif":
                if stack:
                    group = stack.pop()
                    group.append((s, e))
                    groups.append(group)
            elif stack:  # elif, else
                stack[-1].append((s, e))
        code = self.code
        for s, e in self.inside:  # `#define` right after `= {`, `,`, `(`: in an expression
            before = self.prev_sig(s)
            if before < 0:
                continue
            if code[before] == 0x7B:  # `= {` opens an initializer, a function body does not
                outer = self.prev_sig(before)
                if outer < 0 or code[outer] not in b"=,{":
                    continue
            self.drop(s, e)
        paren = brace = last = 0
        groups.sort()
        for marks in groups:
            if marks[0][0] in zero:
                # `#if 0`: keep the next branch if any (as code), drop the dead one
                self.drop(marks[0][0], marks[1][0] if len(marks) > 2 else marks[-1][1])
                if len(marks) > 2:
                    self._flatten(marks, keep=1)
                continue
            at = marks[0][0]
            paren += code.count(b"(", last, at) - code.count(b")", last, at)
            brace += code.count(b"{", last, at) - code.count(b"}", last, at)
            last = at
            flatten = paren > 0
            before = self.prev_sig(at) if brace > 0 else -1
            if before >= 0 and code[before] not in b";{}":
                flatten = True  # opened in the middle of a statement: `if (x)\n#ifdef`
            if not flatten:
                for (_, a), (b, _) in itertools.pairwise(marks):
                    if self._broken(a, b):
                        flatten = True
                        break
            if flatten:
                self._flatten(marks, keep=0)

    def _broken(self, a: int, b: int) -> bool:
        """Tell whether a branch is not a sequence of whole statements/declarations."""
        code = self.code
        if (code.count(b"{", a, b) != code.count(b"}", a, b)
                or code.count(b"(", a, b) != code.count(b")", a, b)):
            return True
        first = self.next_sig(a)
        if first >= b:
            return False
        if self.code[first] in b"})],.?:|&=+-*/<>!" or (
                self.code.startswith(b"else", first) and not _is_word(self.code, first + 4)):
            return True
        tail = self.code[self.prev_sig(b)]
        return tail not in b";}:{"

    def _flatten(self, marks: list[tuple[int, int]], keep: int) -> None:
        """Blank every directive line of a group and every branch but branch ``keep``."""
        for s, e in marks:
            self.drop(s, e)
        for i, ((_, a), (b, _)) in enumerate(itertools.pairwise(marks)):
            if i != keep:
                self.drop(a, b)


def _is_word(code: bytes | bytearray, pos: int) -> bool:
    """Tell whether the byte at pos continues an identifier."""
    return 0 <= pos < len(code) and _WORDS_ONLY[code[pos]] != 0x20


def neutralise(source: bytes, table: MacroTable) -> bytes:
    """Return ``source`` rewritten so tree-sitter-c parses its macro idioms (see module doc).

    The result has exactly the length of ``source`` and a newline at exactly the same offsets.
    """
    compiled = _compiled(table)
    rw = _Rewriter(source, compiled)
    if rw.conds or rw.inside:
        rw.conditionals()
    code = rw.code
    hits = rw.hits
    for hint in _LOOP_HINTS:
        pos = code.find(hint)
        while pos >= 0:
            s = pos
            while s > 0 and _is_word(code, s - 1):
                s -= 1
            e = _IDENT_AROUND.match(code, pos).end()  # type: ignore[union-attr]
            name = bytes(code[s:e])
            if not name[:1].isdigit() and name not in compiled.kind:
                hits.append((s, e, "loop"))
            pos = code.find(hint, e)
    local = rw.local_macros(compiled) if b"define" in source else {}
    if local:
        hits += _find_names(code, local, local)
    if b"..." in code:
        rw.case_ranges()
    hits.sort()
    done = 0
    for start, end, kind in hits:  # attributes first: type arguments then read clean
        if kind == "attribute" and start >= done and code[start] == source[start]:
            done = rw.attribute(start, end)
    done = 0
    depth = 0
    last = 0
    for start, end, kind in hits:
        if start < done or kind == "attribute" or code[start] != source[start]:
            continue
        if kind == "statement":
            depth += code.count(b"{", last, start) - code.count(b"}", last, start)
            last = start
            done = rw.statement(start, end, depth)
        elif kind == "typename":
            done = rw.typename(start, end)
        else:
            done = rw.for_each(start, end, listed=kind == "for_each")
    rw.unknown_calls(compiled)
    return bytes(rw.out)
