// path: lib/libvfio-user.c
// A vfio-user server builds a region info reply with its capabilities after it.
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <linux/vfio.h>

struct vfio_region_info {
    uint32_t argsz;
    uint32_t flags;
    uint32_t index;
    uint32_t cap_offset;
    uint64_t size;
    uint64_t offset;
};

struct vfio_info_cap_header {
    uint16_t id;
    uint16_t version;
    uint32_t next;
};

static int
add_sparse_cap(struct vfio_region_info **reg, void *cap, size_t cap_len)
{
    (*reg)->cap_offset = sizeof(**reg);
    *reg = realloc(*reg, (*reg)->cap_offset + cap_len);
    // ruleid: VFIO010
    memcpy(*reg + (*reg)->cap_offset, cap, cap_len);
    return 0;
}

static int
add_sparse_cap_sizeof(struct vfio_region_info **reg, void *cap, size_t cap_len)
{
    *reg = realloc(*reg, sizeof(**reg) + cap_len);
    // ruleid: VFIO010
    memcpy(*reg + sizeof(**reg), cap, cap_len);
    return 0;
}

static int
add_sparse_cap_bytes(struct vfio_region_info **reg, void *cap, size_t cap_len)
{
    void *dst;

    (*reg)->cap_offset = sizeof(**reg);
    // ok: VFIO010
    dst = (char *)*reg + (*reg)->cap_offset;
    memcpy(dst, cap, cap_len);
    return 0;
}

static struct vfio_info_cap_header *
first_cap(struct vfio_region_info *info)
{
    // ok: VFIO010
    return (struct vfio_info_cap_header *)(info + 1);
}

static struct vfio_info_cap_header *
find_cap(struct vfio_region_info *info, uint16_t id)
{
    struct vfio_info_cap_header *hdr;
    uint32_t off = info->cap_offset;

    while (off != 0) {
        // ruleid: VFIO010
        hdr = (struct vfio_info_cap_header *)(info + off);
        if (hdr->id == id)
            return hdr;
        off = hdr->next;
    }
    return NULL;
}

static struct vfio_info_cap_header *
find_cap_uintptr(struct vfio_region_info *info, uint16_t id)
{
    struct vfio_info_cap_header *hdr;
    uint32_t off = info->cap_offset;

    while (off != 0) {
        // ok: VFIO010
        hdr = (struct vfio_info_cap_header *)((uintptr_t)info + off);
        if (hdr->id == id)
            return hdr;
        off = hdr->next;
    }
    return NULL;
}

static struct vfio_info_cap_header *
next_cap(struct vfio_info_cap_header *base, struct vfio_info_cap_header *hdr)
{
    // ruleid: VFIO010
    return base + hdr->next;
}

static uint32_t *
cap_words(uint32_t *words, struct vfio_region_info *info)
{
    // ok: VFIO010
    return words + info->cap_offset / sizeof(*words);
}

struct dev_state {
    time_t bar0;
    uint8_t *bar1;
    size_t bar1_size;
};

static void
migration_read(struct dev_state *st, char *buf, uint64_t start, size_t len)
{
    // ruleid: VFIO010
    memcpy(buf, &st->bar0 + start, len);
    // ok: VFIO010
    memcpy(buf, (char *)&st->bar0 + start, len);
    // ok: VFIO010
    memcpy(buf, st->bar1 + start, len);
}

static void
state_end(struct dev_state *st, void **end)
{
    // ok: VFIO010
    *end = &st->bar1_size + 1;
}

static ssize_t
bar_read(void *ctx, uint32_t *regs, char *buf, size_t count, loff_t offset)
{
    // ruleid: VFIO010
    memcpy(buf, regs + offset, count);
    // ok: VFIO010
    memcpy(buf, (uint8_t *)regs + offset, count);
    // ok: VFIO010
    memcpy(buf, &regs[offset / 4], count);
    return count;
}

static int
count_regions(struct vfio_region_info *infos, int n)
{
    int i, total = 0;

    for (i = 0; i < n; i++)
        // ok: VFIO010
        total += infos[i].size > 0;
    return total;
}

// Declared in a header out of view: dereferenced with ->, so a struct pointer.
static void
reply_append_cap(void *cap, size_t len)
{
    // ruleid: VFIO010
    memcpy(reply_info + reply_info->cap_offset, cap, len);
    // ok: VFIO010
    memcpy(reply_buf + sizeof(struct vfio_region_info), cap, len);
}

// path: drivers/bus/pci/linux/pci_vfio.c
// DPDK: a client walks the capabilities the kernel returned.
#include <rte_common.h>

static struct vfio_info_cap_header *
pci_vfio_info_cap(struct vfio_region_info *info, int cap)
{
    struct vfio_info_cap_header *h;
    size_t offset;

    offset = info->cap_offset;
    while (offset != 0) {
        // ok: VFIO010
        h = RTE_PTR_ADD(info, offset);
        if (h->id == cap)
            return h;
        offset = h->next;
    }
    return NULL;
}

static int
pci_vfio_msix_pos(struct rte_pci_device *dev, off_t cap_offset, uint16_t *reg)
{
    // ok: VFIO010
    return rte_pci_read_config(dev, reg, sizeof(*reg), cap_offset + RTE_PCI_MSIX_TABLE);
}

// path: drivers/vfio/vfio_main.c
// The kernel: GNU C void * arithmetic is byte arithmetic.
struct vfio_info_cap {
    struct vfio_info_cap_header *buf;
    size_t size;
};

void vfio_info_cap_shift(struct vfio_info_cap *caps, size_t offset)
{
    struct vfio_info_cap_header *tmp;
    void *buf = (void *)caps->buf;

    // ok: VFIO010
    for (tmp = buf; tmp->next; tmp = buf + tmp->next - offset)
        tmp->next += offset;
}

void vfio_info_cap_walk_wrong(struct vfio_info_cap *caps, size_t offset)
{
    struct vfio_info_cap_header *tmp;

    // ruleid: VFIO010
    for (tmp = caps->buf; tmp->next; tmp = caps->buf + tmp->next - offset)
        tmp->next += offset;
}

// path: vfio/pci.c
// kvmtool: PCI capabilities are byte positions in config space.
struct pci_cap_hdr {
    u8 type;
    u8 next;
};

struct pci_device_header {
    u16 vendor_id;
    u16 device_id;
    u32 bar[6];
};

static void
copy_caps(struct pci_device_header *hdr, u8 *virt, struct pci_cap_hdr *cap, u16 pos)
{
    // ok: VFIO010
    memcpy((void *)hdr + pos, virt + pos, 4);
    // ruleid: VFIO010
    memcpy(hdr + cap->next, virt + cap->next, 4);
}

// path: lib/nvmf/vfio_user.c
// SPDK: a doorbell write; the byte offset is turned into an index in place.
struct ctrlr {
    uint32_t *bar0_doorbells;
    size_t table[64];
};

static int
doorbell_write(struct ctrlr *ctrlr, uint32_t *buf, size_t count, loff_t pos)
{
    pos >>= 2;
    // ok: VFIO010
    *(ctrlr->bar0_doorbells + pos) = *buf;
    return 0;
}

static size_t
reg_size(struct ctrlr *ctrlr, loff_t offset)
{
    // ok: VFIO010
    return ctrlr->table[offset];
}

static int
doorbell_write_bytes(struct ctrlr *ctrlr, uint32_t *buf, loff_t pos)
{
    // ruleid: VFIO010
    *(ctrlr->bar0_doorbells + pos) = *buf;
    return 0;
}
