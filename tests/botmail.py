"""List mail for the bot's tests: series in the shape git send-email gives them, written in the
style of QEMU's and DPDK's lists (cover letters, numbered patches, threading, reviews that
quote a patch). The code is written for these tests, modelled on hw/vfio/region.c and
drivers/bus/pci/linux/pci_vfio.c."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

JANE = "Jane Doe <jane.doe@example.org>"
RAVI = "Ravi Kumar <ravi.kumar@example.com>"
ALEX = "Alex Reviewer <alex@example.net>"
QEMU_LIST = "qemu-devel@nongnu.org"
DPDK_LIST = "dev@dpdk.org"
BASE_DATE = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FileChange:
    """One file's hunks: (old_start, section, lines with their ' ', '+', '-' marks)."""

    path: str
    index: str
    hunks: tuple[tuple[int, str, tuple[str, ...]], ...]


def diff_text(change: FileChange) -> tuple[str, int, int]:
    """Render a file's diff with exact hunk headers; return it and the lines added/removed."""
    out = [f"diff --git a/{change.path} b/{change.path}", f"index {change.index} 100644",
           f"--- a/{change.path}", f"+++ b/{change.path}"]
    added = removed = 0
    shift = 0
    for old_start, section, lines in change.hunks:
        old = sum(1 for x in lines if x[:1] in " -")
        new = sum(1 for x in lines if x[:1] in " +")
        added += new - sum(1 for x in lines if x[:1] == " ")
        removed += old - sum(1 for x in lines if x[:1] == " ")
        out.append(f"@@ -{old_start},{old} +{old_start + shift},{new} @@ {section}".rstrip())
        out += list(lines)
        shift += new - old
    return "\n".join(out) + "\n", added, removed


def patch_body(message: str, changes: list[FileChange]) -> str:
    """Render a commit message, diffstat and diff as git format-patch does."""
    diffs = [diff_text(c) for c in changes]
    width = max(len(c.path) for c in changes)
    stat = [f" {c.path:<{width}} | {a + r:>2} {'+' * a}{'-' * r}"
            for c, (_, a, r) in zip(changes, diffs, strict=True)]
    added = sum(a for _, a, _ in diffs)
    removed = sum(r for _, _, r in diffs)
    summary = f" {len(changes)} file{'s' if len(changes) > 1 else ''} changed"
    if added:
        summary += f", {added} insertion{'s' if added > 1 else ''}(+)"
    if removed:
        summary += f", {removed} deletion{'s' if removed > 1 else ''}(-)"
    return (message.rstrip("\n") + "\n---\n" + "\n".join(stat) + "\n" + summary + "\n\n"
            + "".join(d for d, _, _ in diffs) + "-- \n2.43.0\n")


def mail(msgid: str, subject: str, body: str, author: str = JANE, to: str = QEMU_LIST,
         minutes: int = 0, parent: str | None = None, refs: tuple[str, ...] = (),
         cc: str | None = None) -> bytes:
    """Render one message as a list archive stores it."""
    date = format_datetime(BASE_DATE + timedelta(minutes=minutes))
    headers = [f"From: {author}", f"To: {to}"]
    if cc:
        headers.append(f"Cc: {cc}")
    headers += [f"Subject: {subject}", f"Date: {date}", f"Message-Id: <{msgid}>"]
    if parent:
        chain = [*refs, parent] if parent not in refs else list(refs)
        headers += [f"In-Reply-To: <{parent}>",
                    "References: " + "\n ".join(f"<{r}>" for r in chain)]
    headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=UTF-8",
                "Content-Transfer-Encoding: 8bit", "X-Mailer: git-send-email 2.43.0"]
    return ("\n".join(headers) + "\n\n" + body).encode()


# -- QEMU: vfio/region, v1 maps any region the kernel marks mmappable into guest memory
#    (VFIO002), v2 checks that the region is a whole number of host pages.

SETUP_CONTEXT = "int vfio_region_setup(Object *obj, VFIODevice *vbasedev, VFIORegion *region,"
V1_MAP = (
    "         region->mem = g_new0(MemoryRegion, 1);",
    "         memory_region_init_io(region->mem, obj, &vfio_region_ops,",
    "                               region, name, region->size);",
    "+",
    "+        if (!vbasedev->no_mmap &&",
    "+            info->flags & VFIO_REGION_INFO_FLAG_MMAP) {",
    "+            region->mmaps[0].mmap = mmap(NULL, region->size, PROT_READ, MAP_SHARED,",
    "+                                         vbasedev->fd, region->fd_offset);",
    "+            memory_region_init_ram_device_ptr(&region->mmaps[0].mem, obj, name,",
    "+                                              region->size, region->mmaps[0].mmap);",
    "+        }",
    "     }",
    " ",
    "     trace_vfio_region_setup(vbasedev->name, index, name,",
)
V2_MAP = (
    "         region->mem = g_new0(MemoryRegion, 1);",
    "         memory_region_init_io(region->mem, obj, &vfio_region_ops,",
    "                               region, name, region->size);",
    "+",
    "+        /*",
    "+         * A sub-page region cannot be mapped on its own: the guest would",
    "+         * see the rest of the host page. Keep those on read/write.",
    "+         */",
    "+        if (!vbasedev->no_mmap &&",
    "+            info->flags & VFIO_REGION_INFO_FLAG_MMAP &&",
    "+            !(region->size & ~qemu_real_host_page_mask())) {",
    "+            region->mmaps[0].mmap = mmap(NULL, region->size, PROT_READ, MAP_SHARED,",
    "+                                         vbasedev->fd, region->fd_offset);",
    "+            memory_region_init_ram_device_ptr(&region->mmaps[0].mem, obj, name,",
    "+                                              region->size, region->mmaps[0].mmap);",
    "+        }",
    "     }",
    " ",
    "     trace_vfio_region_setup(vbasedev->name, index, name,",
)


def qemu_patches(revision: int) -> list[tuple[str, str, list[FileChange]]]:
    """Return the (subject, body) of the five patches of the vfio/region series."""
    flags = FileChange("hw/vfio/region.c", "4f0c2a1..8b7d9e3", ((
        48, SETUP_CONTEXT, (
            "     region->vbasedev = vbasedev;",
            "     region->flags = info->flags;",
            "     region->size = info->size;",
            "+    region->fd_offset = info->offset;",
            "     region->nr = index;",
            " ",
            "     if (region->size) {",
        )),))
    trace = FileChange("hw/vfio/trace-events", "9a1b2c3..d4e5f60", ((
        118, "", (
            " vfio_region_setup(const char *dev, int index, const char *name, unsigned long "
            "flags, unsigned long offset, unsigned long size) \"Device %s, region %d \\\"%s\\\", "
            "flags: 0x%lx, offset: 0x%lx, size: 0x%lx\"",
            "+vfio_region_mmap_whole(const char *name, unsigned long size) \"Region %s mapped "
            "whole, size: 0x%lx\"",
            " vfio_region_mmap_fault(const char *name, int index, unsigned long offset, unsigned "
            "long size, int fault) \"Region %s mmaps[%d], [0x%lx - 0x%lx], fault: %d\"",
        )),))
    mapping = FileChange("hw/vfio/region.c", "8b7d9e3..2c4f6a8", ((
        57, SETUP_CONTEXT, V1_MAP if revision == 1 else V2_MAP),))
    docs = FileChange("docs/devel/vfio-region.rst", "1122334..5566778", ((
        40, "", (
            " Regions are accessed through read and write on the device file",
            " descriptor unless the kernel allows a mapping.",
            "+",
            "+A region the kernel reports as mmap-capable, with no sparse mmap",
            "+capability, is mapped whole when its size is a multiple of the host",
            "+page size.",
        )),))
    unmap = FileChange("hw/vfio/region.c", "2c4f6a8..7d8e9f0", ((
        212, "void vfio_region_exit(VFIORegion *region)", (
            " ",
            "     for (i = 0; i < region->nr_mmaps; i++) {",
            "         if (region->mmaps[i].mmap) {",
            "             memory_region_del_subregion(region->mem, &region->mmaps[i].mem);",
            "+            munmap(region->mmaps[i].mmap, region->mmaps[i].size);",
            "+            region->mmaps[i].mmap = NULL;",
            "         }",
            "     }",
        )),))
    sob = "\n\nSigned-off-by: Jane Doe <jane.doe@example.org>\n"
    return [
        ("vfio/region: keep the region's file offset",
         "vfio_region_setup() reads the region info once; keep the file offset\n"
         "next to the size and flags so the mmap code does not need to ask the\n"
         "kernel again." + sob, [flags]),
        ("vfio/region: add a trace point for whole-region mappings",
         "Trace when a region is mapped as a whole." + sob, [trace]),
        ("vfio/region: map mmap-capable regions directly",
         "When the kernel reports VFIO_REGION_INFO_FLAG_MMAP for a region that\n"
         "has no sparse mmap capability, set up one mapping covering the whole\n"
         "region so guest accesses do not trap into QEMU." + sob
         + ("" if revision == 1 else "Reviewed-by: Alex Reviewer <alex@example.net>\n"),
         [mapping]),
        ("docs/devel: describe whole-region mappings",
         "Document when a region is mapped whole." + sob, [docs]),
        ("vfio/region: unmap whole-region mappings on exit",
         "vfio_region_exit() removed the subregion but left the host mapping\n"
         "in place; unmap it." + sob, [unmap]),
    ]


def qemu_series(revision: int, prefix: str, minutes: int = 0, thread: str | None = None,
                skip: tuple[int, ...] = ()) -> list[bytes]:
    """Return the vfio/region series (cover letter and five patches) as git send-email sends
    it: every patch in reply to the cover letter."""
    tag = "PATCH" if revision == 1 else f"PATCH v{revision}"
    cover_id = f"{prefix}-0-jane.doe@example.org"
    cover_text = (
        "Regions the kernel marks mmap-capable are still accessed through\n"
        "read/write until a sparse mmap capability says otherwise. This series\n"
        "maps such regions whole.\n\n")
    if revision > 1:
        cover_text += ("Changes in v2:\n- only map regions that are a whole number of host "
                       "pages (Alex)\n\n")
    cover_text += ("Jane Doe (5):\n  vfio/region: keep the region's file offset\n  ...\n\n"
                   " hw/vfio/region.c | 20 ++++++++++++++++++++\n"
                   "base-commit: 0123456789abcdef0123456789abcdef01234567\n-- \n2.43.0\n")
    refs = (thread,) if thread else ()
    out = [mail(cover_id, f"[{tag} 0/5] vfio/region: map mmap-capable regions whole",
                cover_text, minutes=minutes, parent=thread, refs=())]
    for n, (subject, message, changes) in enumerate(qemu_patches(revision), start=1):
        if n in skip:
            continue
        out.append(mail(f"{prefix}-{n}-jane.doe@example.org", f"[{tag} {n}/5] {subject}",
                        patch_body(message, changes), minutes=minutes + n, parent=cover_id,
                        refs=(*refs, cover_id)))
    return out


def review_quoting_patch(prefix: str, minutes: int) -> bytes:
    """Return a reviewer's reply to 3/5 that quotes the hunk (not a patch)."""
    patch_id = f"{prefix}-3-jane.doe@example.org"
    cover_id = f"{prefix}-0-jane.doe@example.org"
    body = (
        "On Mon, 30 Nov 2026 09:03:00 +0000, Jane Doe wrote:\n"
        "> diff --git a/hw/vfio/region.c b/hw/vfio/region.c\n"
        "> index 8b7d9e3..2c4f6a8 100644\n"
        "> --- a/hw/vfio/region.c\n"
        "> +++ b/hw/vfio/region.c\n"
        "> @@ -57,6 +57,14 @@ " + SETUP_CONTEXT + "\n"
        ">          region->mem = g_new0(MemoryRegion, 1);\n"
        ">          memory_region_init_io(region->mem, obj, &vfio_region_ops,\n"
        ">                                region, name, region->size);\n"
        "> +\n"
        "> +        if (!vbasedev->no_mmap &&\n"
        "> +            info->flags & VFIO_REGION_INFO_FLAG_MMAP) {\n"
        "> +            region->nr_mmaps = 1;\n"
        "> +            region->mmaps = g_new0(VFIOMmap, region->nr_mmaps);\n"
        "> +            region->mmaps[0].offset = 0;\n"
        "> +            region->mmaps[0].size = region->size;\n"
        "> +        }\n"
        ">      }\n\n"
        "What about a region smaller than a page? The guest would see whatever\n"
        "follows it in the host page.\n\nAlex\n")
    return mail(f"{prefix}-review-alex@example.net",
                "Re: [PATCH 3/5] vfio/region: map mmap-capable regions directly", body,
                author=ALEX, minutes=minutes, parent=patch_id, refs=(cover_id,))


def reply_to_cover(prefix: str, minutes: int) -> bytes:
    """Return a plain reply to the cover letter."""
    cover_id = f"{prefix}-0-jane.doe@example.org"
    return mail(f"{prefix}-ack-alex@example.net",
                "Re: [PATCH 0/5] vfio/region: map mmap-capable regions whole",
                "> This series maps such regions whole.\n\nI will look at it this week.\n",
                author=ALEX, minutes=minutes, parent=cover_id)


# -- DPDK: bus/pci, 2/5 rebuilds the ioport offset from the BAR index (VFIO003).

def dpdk_patches() -> list[tuple[str, str, list[FileChange]]]:
    """Return the five patches of the bus/pci series."""
    helper = FileChange("drivers/bus/pci/linux/pci_vfio.c", "62b9d65..7a8b9c0", ((
        340, "pci_vfio_mmap_bar(int vfio_dev_fd, struct mapped_pci_resource *vfio_res,", (
            " \t\treturn -1;",
            " \t}",
            " ",
            "+\tPCI_LOG(DEBUG, \"BAR%d mapped at %p\", bar_index, bar_addr);",
            " \tbar->addr = bar_addr;",
            " \treturn 0;",
            " }",
        )),))
    ioport = FileChange("drivers/bus/pci/linux/pci_vfio.c", "7a8b9c0..03402b7", ((
        17, "", (
            " #include \"pci_init.h\"",
            " #include \"private.h\"",
            " ",
            "+/* vfio-pci places region N at file offset N << 40 */",
            "+#define PCI_VFIO_GET_REGION_ADDR(bar) ((uint64_t)(bar) << 40)",
            "+",
            " int",
            " pci_vfio_ioport_map(struct rte_pci_device *dev, int bar,",
            " \t\t    struct rte_pci_ioport *p)",
            " {",
            "-\tuint64_t size, offset;",
            "-",
            " \tif (bar < VFIO_PCI_BAR0_REGION_INDEX ||",
            " \t    bar > VFIO_PCI_BAR5_REGION_INDEX) {",
            " \t\tPCI_LOG(ERR, \"invalid bar (%d)!\", bar);",
            " \t\treturn -1;",
            " \t}",
            " ",
            "-\tif (pci_vfio_get_region(dev, bar, &size, &offset) != 0) {",
            "-\t\tPCI_LOG(ERR, \"Cannot get offset of region %d.\", bar);",
            "-\t\treturn -1;",
            "-\t}",
            "-",
            " \tp->dev = dev;",
            "-\tp->base = offset;",
            "+\tp->base = PCI_VFIO_GET_REGION_ADDR(bar);",
            " \treturn 0;",
            " }",
        )),))
    retry = FileChange("drivers/bus/pci/linux/pci_vfio.c", "03402b7..1b2c3d4", ((
        880, "pci_vfio_map_resource_primary(struct rte_pci_device *dev)", (
            " \t\tret = pci_vfio_mmap_bar(vfio_dev_fd, vfio_res, i, 0);",
            " \t\tif (ret < 0) {",
            "-\t\t\tPCI_LOG(ERR, \"%s mapping BAR%i failed: %s\",",
            "+\t\t\tPCI_LOG(ERR, \"%s: mapping BAR%i failed: %s\",",
            " \t\t\t\tpci_addr, i, strerror(errno));",
            " \t\t\tfree(reg);",
            " \t\t\tgoto err_map;",
        )),))
    guide = FileChange("doc/guides/linux_gsg/linux_drivers.rst", "aa11bb2..cc33dd4", ((
        120, "", (
            " VFIO-pci uses the IOMMU of the platform to isolate the device.",
            "+The I/O port BAR of a legacy virtio device is accessed with pread and",
            "+pwrite on the device file descriptor.",
        )),))
    stats = FileChange("drivers/bus/pci/linux/pci_vfio.c", "1b2c3d4..5e6f7a8", ((
        1210, "pci_vfio_ioport_read(struct rte_pci_ioport *p,", (
            " \tconst struct rte_intr_handle *intr_handle = p->dev->intr_handle;",
            " \tint vfio_dev_fd = rte_intr_dev_fd_get(intr_handle);",
            " ",
            "+\tif (vfio_dev_fd < 0)",
            "+\t\treturn;",
            " \tif (pread(vfio_dev_fd, data,",
            " \t\t    len, p->base + offset) <= 0)",
        )),))
    sob = "\n\nSigned-off-by: Ravi Kumar <ravi.kumar@example.com>\n"
    return [
        ("bus/pci: log where VFIO maps each BAR", "Add a debug log of BAR addresses." + sob,
         [helper]),
        ("bus/pci: compute VFIO ioport base without region lookup",
         "pci_vfio_ioport_map() runs before the regions are filled in secondary\n"
         "processes; compute the ioport base from the BAR index instead of\n"
         "looking the region up." + sob, [ioport]),
        ("bus/pci: say which device failed to map a BAR", "Add a colon to the log." + sob,
         [retry]),
        ("doc: describe VFIO ioport access", "Document ioport access with VFIO." + sob,
         [guide]),
        ("bus/pci: skip ioport reads without a device fd",
         "Do not pread from an invalid fd." + sob, [stats]),
    ]


def dpdk_series(prefix: str, minutes: int, skip: tuple[int, ...] = ()) -> list[bytes]:
    """Return the bus/pci series (cover letter and five patches, minus ``skip``)."""
    cover_id = f"{prefix}-0-ravi.kumar@example.com"
    out = [mail(cover_id, "[PATCH 0/5] bus/pci: VFIO ioport and BAR mapping fixes",
                "A few fixes to VFIO ioport access and BAR mapping.\n\n"
                "Ravi Kumar (5):\n  bus/pci: log where VFIO maps each BAR\n  ...\n-- \n"
                "2.43.0\n", author=RAVI, to=DPDK_LIST, minutes=minutes)]
    for n, (subject, message, changes) in enumerate(dpdk_patches(), start=1):
        if n in skip:
            continue
        out.append(mail(f"{prefix}-{n}-ravi.kumar@example.com", f"[PATCH {n}/5] {subject}",
                        patch_body(message, changes), author=RAVI, to=DPDK_LIST,
                        minutes=minutes + n, parent=cover_id, refs=(cover_id,)))
    return out


# -- DPDK: net/ixgbe, no VFIO code at all.

def ixgbe_series(prefix: str, minutes: int) -> list[bytes]:
    """Return a three-patch series that touches no VFIO code."""
    changes = [
        FileChange("drivers/net/intel/ixgbe/ixgbe_rxtx.c", "0a1b2c3..4d5e6f7", ((
            2210, "ixgbe_dev_rx_queue_setup(struct rte_eth_dev *dev,", (
                " \trxq->rx_free_thresh = rx_conf->rx_free_thresh;",
                "-\trxq->queue_id = queue_idx;",
                "+\trxq->queue_id = (uint16_t)queue_idx;",
                " \trxq->reg_idx = (uint16_t)((RTE_ETH_DEV_SRIOV(dev).active == 0) ?",
            )),)),
        FileChange("drivers/net/intel/ixgbe/ixgbe_ethdev.c", "1a2b3c4..5d6e7f8", ((
            3100, "ixgbe_dev_stats_get(struct rte_eth_dev *dev, struct rte_eth_stats *stats)", (
                " \tstats->imissed  = total_missed_rx;",
                "-\tstats->ierrors  = hw_stats->crcerrs + hw_stats->rlec;",
                "+\tstats->ierrors  = hw_stats->crcerrs + hw_stats->rlec + hw_stats->illerrc;",
                " \tstats->oerrors  = 0;",
            )),)),
        FileChange("doc/guides/nics/ixgbe.rst", "2b3c4d5..6e7f809", ((
            80, "", (
                " Statistics",
                "-illegal byte errors are not counted.",
                "+Illegal byte errors are counted in ierrors.",
            )),)),
    ]
    subjects = ["net/ixgbe: cast the Rx queue id", "net/ixgbe: count illegal byte errors",
                "doc: update ixgbe statistics"]
    cover_id = f"{prefix}-0-ravi.kumar@example.com"
    out = [mail(cover_id, "[PATCH 0/3] net/ixgbe: statistics fixes",
                "Small ixgbe fixes.\n-- \n2.43.0\n", author=RAVI, to=DPDK_LIST,
                minutes=minutes)]
    sob = "\n\nSigned-off-by: Ravi Kumar <ravi.kumar@example.com>\n"
    for n, (subject, change) in enumerate(zip(subjects, changes, strict=True), start=1):
        out.append(mail(f"{prefix}-{n}-ravi.kumar@example.com", f"[PATCH {n}/3] {subject}",
                        patch_body(subject + "." + sob, [change]), author=RAVI, to=DPDK_LIST,
                        minutes=minutes + n, parent=cover_id, refs=(cover_id,)))
    return out
