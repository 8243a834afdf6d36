"""Macro names by the shape the C pre-pass rewrites: built-in tables, ``.clang-format``,
configuration.

Four kinds (see ``prepass``): ``for_each`` (a loop head, ``NAME(args) {``), ``attribute`` (an
attribute or storage specifier, blanked), ``statement`` (a statement or a declaration block at
file scope, blanked or kept as a call), ``typename`` (takes a type as an argument).
"""

from __future__ import annotations

import contextlib
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
# Macros learned from their own #define
# ---------------------------------------------------------------------------------------------

_LOOP_BODY_RE = re.compile(r"^\(*\s*(?:for|while)\s*\(")
_STORAGE_WORDS = frozenset(_words("""
    static inline __inline __inline__ extern register const volatile _Noreturn noreturn
    __extension__ __restrict restrict _Thread_local __thread
"""))
_RECORD_HEAD_RE = re.compile(r"^(?:struct|union|enum)\b")
_ATTRIBUTE_GROUP_RE = re.compile(r"\b(?:__attribute__|__attribute|__declspec)\s*"
                                 r"\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)")
_DECLARATION_RE = re.compile(
    r"^(?:(?:static|extern|const|volatile|inline|__inline|_Static_assert|static_assert)\b"
    r"|(?:[A-Za-z_]\w*\s+)+\**\s*[A-Za-z_]\w*\s*(?:\(|\[|=|;))")
_DO_WHILE_RE = re.compile(r"^do\s*\{.*\}\s*while\s*\(\s*0\s*\)$", re.S)
_WORD_RE = re.compile(r"[A-Za-z_]\w*")


def classify(params: tuple[str, ...] | None, body: str, known: MacroTable = BUILTIN
             ) -> str | None:
    """Return the pre-pass kind a macro's own ``#define`` gives it, None for an ordinary
    expression or constant (nothing to rewrite).

    * a loop header: the body is a ``for``/``while`` head, or a call of a loop macro;
    * an attribute or storage specifier: an object-like macro with an empty body, or a body
      made of ``__attribute__((…))``, storage words and attribute macros;
    * a type: a function-like macro whose body is a type (``struct name { … }``) or a call of a
      macro that takes a type (``container_of``);
    * a statement or a declaration block: a ``do { … } while (0)`` body, an empty
      function-like body, a body that declares something (``static void f(void)``) or holds a
      top-level ``;``.
    """
    text = body.strip()
    words = _WORD_RE.findall(text)
    if not text:
        return "statement" if params is not None else "attribute"
    if _LOOP_BODY_RE.match(text):
        return "for_each"
    first = words[0] if words else ""
    if params is not None and first and text[len(first):].lstrip().startswith("(") and (
            first in known.for_each or _loop_name(first)) and not text.endswith(";"):
        return "for_each"
    bare = _ATTRIBUTE_GROUP_RE.sub(" ", text)
    if (bare != text and not bare.strip()) or (
            words and "(" not in bare
            and all(w in _STORAGE_WORDS or w in known.attribute for w in _WORD_RE.findall(bare))):
        return "attribute"
    if params is not None:
        record = _RECORD_HEAD_RE.match(text)
        if (record and "{" in text) or _only_type(text):
            return "typename"
        if first in known.typename and text[len(first):].lstrip().startswith("("):
            return "typename"
    if _DO_WHILE_RE.match(text):
        return "statement"
    if _DECLARATION_RE.match(text) or _top_level_semicolon(text):
        return "statement"
    return None


def _loop_name(name: str) -> bool:
    """Tell whether a name reads as a loop macro's (``…for_each…``, ``…FOREACH…``)."""
    return any(hint in name for hint in ("for_each", "foreach", "FOREACH", "FOR_EACH"))


def _only_type(text: str) -> bool:
    """Tell whether a body is nothing but type words (``unsigned long``, ``struct x *``)."""
    return bool(re.fullmatch(r"(?:(?:struct|union|enum|unsigned|signed|long|short|int|char|void"
                             r"|const|volatile)\s+)*[A-Za-z_]\w*[\s*]*", text))


def _top_level_semicolon(text: str) -> bool:
    """Tell whether a body holds a ``;`` outside parentheses and braces."""
    depth = 0
    for ch in text:
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        elif ch == ";" and depth == 0:
            return True
    return False


def learned(kinds: dict[str, str]) -> MacroTable:
    """Build a table from names classified by their definitions (``classify``)."""
    grouped: dict[str, list[str]] = {k: [] for k in KINDS}
    for name, kind in kinds.items():
        grouped[kind].append(name)
    return MacroTable.of(**grouped)
