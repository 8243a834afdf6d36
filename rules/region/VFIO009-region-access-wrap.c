// path: lib/libvfio-user.c
// A vfio-user server: requests arrive from the client's socket.
#include <stdint.h>
#include <stdbool.h>
#include "common.h"

struct vfio_user_region_access {
    uint64_t offset;
    uint32_t region;
    uint32_t count;
    uint8_t data[];
};

struct vfio_user_bitmap {
    uint64_t pgsize;
    uint64_t size;
    char data[];
};

struct vfio_user_dma_unmap {
    uint32_t argsz;
    uint32_t flags;
    uint64_t addr;
    uint64_t size;
    struct vfio_user_bitmap bitmap[];
};

struct vfio_user_dma_map {
    uint32_t argsz;
    uint32_t flags;
    uint64_t offset;
    uint64_t addr;
    uint64_t size;
};

struct srv_region { uint64_t size; };
struct srv { struct srv_region *regions; uint32_t nr_regions; };

static bool
access_ok(struct srv *srv, size_t len, struct vfio_user_region_access *acc)
{
    if (len < sizeof(*acc))
        return false;
    if (acc->count > SERVER_MAX_DATA_XFER_SIZE)
        return false;
    if (acc->region >= srv->nr_regions)
        return false;
    // ruleid: VFIO009
    if (acc->offset + acc->count > srv->regions[acc->region].size)
        return false;
    return true;
}

static bool
access_ok_saturating(struct srv *srv, struct vfio_user_region_access *acc)
{
    if (acc->region >= srv->nr_regions)
        return false;
    // ok: VFIO009
    if (satadd_u64(acc->offset, acc->count) > srv->regions[acc->region].size)
        return false;
    return true;
}

static bool
access_ok_offset_first(struct srv *srv, struct vfio_user_region_access *acc)
{
    uint64_t size = srv->regions[acc->region].size;

    // ok: VFIO009
    if (acc->offset >= size || acc->offset + acc->count > size)
        return false;
    return true;
}

static bool
access_ok_end_local(struct srv *srv, struct vfio_user_region_access *acc)
{
    uint64_t end = acc->offset + acc->count;

    // ruleid: VFIO009
    if (end > srv->regions[acc->region].size)
        return false;
    return true;
}

static bool
access_ok_end_local_wrap_tested(struct srv *srv, struct vfio_user_region_access *acc)
{
    uint64_t end = acc->offset + acc->count;

    // ok: VFIO009
    if (end < acc->offset)
        return false;
    // ok: VFIO009
    if (end > srv->regions[acc->region].size)
        return false;
    return true;
}

static bool
access_ok_rearranged(struct srv *srv, struct vfio_user_region_access *acc)
{
    uint64_t size = srv->regions[acc->region].size;

    // ok: VFIO009
    if (acc->offset > size || acc->count > size - acc->offset)
        return false;
    return true;
}

static int
unmap_ok(size_t in_size, struct vfio_user_dma_unmap *unmap)
{
    if (in_size < sizeof(*unmap) + sizeof(*unmap->bitmap))
        return -1;
    // ruleid: VFIO009
    if (unmap->argsz < sizeof(*unmap) + sizeof(*unmap->bitmap) + unmap->bitmap->size)
        return -1;
    return 0;
}

static int
unmap_ok_saturating(struct vfio_user_dma_unmap *unmap)
{
    size_t need = sizeof(*unmap) + sizeof(*unmap->bitmap);

    need = satadd_u64(need, unmap->bitmap->size);
    // ok: VFIO009
    if (unmap->argsz < need || unmap->argsz > SERVER_MAX_DATA_XFER_SIZE)
        return -1;
    return 0;
}

static int
unmap_ok_bitmap_capped(struct vfio_user_dma_unmap *unmap)
{
    if (unmap->bitmap->size > SERVER_MAX_DATA_XFER_SIZE)
        return -1;
    // ok: VFIO009
    if (unmap->argsz < sizeof(*unmap) + sizeof(*unmap->bitmap) + unmap->bitmap->size)
        return -1;
    return 0;
}

static int
map_overlaps(struct vfio_user_dma_map *map, uint64_t start, uint64_t len)
{
    // ruleid: VFIO009
    return start < map->addr + map->size && map->addr < start + len;
}

static int
map_overlaps_checked(struct vfio_user_dma_map *map, uint64_t start, uint64_t len)
{
    // ok: VFIO009
    if (map->addr + map->size < map->addr)
        return -1;
    // ok: VFIO009
    return start < map->addr + map->size && map->addr < start + len;
}

static void
log_access(struct vfio_user_region_access *acc)
{
    // ok: VFIO009
    vfu_log(NULL, LOG_DEBUG, "access %#lx-%#lx", acc->offset, acc->offset + acc->count);
}

// A region callback: the library has bounded offset and count already.
static ssize_t
bar_access(void *ctx, char *buf, size_t count, loff_t offset, bool is_write)
{
    // ok: VFIO009
    if (offset + count > BAR_SIZE)
        return -1;
    return count;
}

// path: drivers/vfio/vfio_iommu_type1.c
// The kernel side: the request is copied from the user.
#include <linux/vfio.h>

struct vfio_iommu_type1_dma_unmap;
struct vfio_iommu_type1_dma_map;
struct vfio_iommu_type1_dirty_bitmap_get;
struct vfio_device_ioeventfd;

static int find_range(struct vfio_iommu *iommu, u64 iova, u64 size);

static int do_unmap_unchecked(struct vfio_iommu *iommu,
                              struct vfio_iommu_type1_dma_unmap *unmap)
{
    u64 iova = unmap->iova, size = unmap->size;

    if (!size || iova & (PAGE_SIZE - 1))
        return -EINVAL;
    // ruleid: VFIO009
    if (iova + size > iommu->aperture_end)
        return -EINVAL;
    return 0;
}

static int do_unmap(struct vfio_iommu *iommu, struct vfio_iommu_type1_dma_unmap *unmap)
{
    u64 iova = unmap->iova, size = unmap->size;
    bool all = unmap->flags & VFIO_DMA_UNMAP_FLAG_ALL;

    if (all) {
        if (iova || size)
            return -EINVAL;
        size = U64_MAX;
    // ok: VFIO009
    } else if (!size || iova + size - 1 < iova) {
        return -EINVAL;
    }
    // ok: VFIO009
    if (iommu->first_iova >= iova + size)
        return 0;
    return 0;
}

static int dirty_get(struct vfio_iommu *iommu, unsigned long arg, u32 minsz)
{
    struct vfio_iommu_type1_dirty_bitmap_get range;

    if (copy_from_user(&range, (void __user *)(arg + minsz), sizeof(range)))
        return -EFAULT;
    // ruleid: VFIO009
    if (range.iova + range.size > iommu->max_iova)
        return -EINVAL;
    return 0;
}

static int dirty_get_checked(struct vfio_iommu *iommu, unsigned long arg, u32 minsz)
{
    struct vfio_iommu_type1_dirty_bitmap_get range;
    u64 end;

    if (copy_from_user(&range, (void __user *)(arg + minsz), sizeof(range)))
        return -EFAULT;
    if (check_add_overflow(range.iova, range.size, &end))
        return -EOVERFLOW;
    // ok: VFIO009
    if (range.iova + range.size > iommu->max_iova)
        return -EINVAL;
    return 0;
}

static int ioeventfd(struct vfio_pci_core_device *vdev, struct vfio_device_ioeventfd *ev)
{
    loff_t pos = ev->offset & VFIO_PCI_OFFSET_MASK;
    int count = ev->flags & VFIO_DEVICE_IOEVENTFD_SIZE_MASK;

    // ok: VFIO009
    if (pos + count > pci_resource_len(vdev->pdev, 0))
        return -EINVAL;
    return 0;
}

static int map_checked_in_caller(struct vfio_iommu *iommu, u64 iova, u64 size)
{
    // ok: VFIO009
    return iova + size > iommu->max_iova;
}

static int do_map(struct vfio_iommu *iommu, struct vfio_iommu_type1_dma_map *map)
{
    if (map->size > iommu->max_size || map->iova > iommu->max_iova)
        return -EINVAL;
    return map_checked_in_caller(iommu, map->iova, map->size);
}

static int do_map_unchecked(struct vfio_iommu *iommu, struct vfio_iommu_type1_dma_map *map)
{
    // ruleid: VFIO009
    if (map->vaddr + map->size > TASK_SIZE)
        return -EINVAL;
    return 0;
}

static int do_unmap_clamped(struct vfio_iommu *iommu,
                            struct vfio_iommu_type1_dma_unmap *unmap)
{
    u64 len = min(unmap->size, iommu->max_len);

    // ok: VFIO009
    if (iommu->base + len > iommu->aperture_end)
        return -EINVAL;
    return 0;
}

static int walk_range(struct vfio_iommu *iommu, struct vfio_iommu_type1_dma_unmap *unmap)
{
    u64 iova;

    // ok: VFIO009
    for (iova = unmap->iova; iova < unmap->iova + unmap->size; iova += PAGE_SIZE)
        unmap_one(iommu, iova);
    return 0;
}

static int logging_range(struct vfio_device *device,
                         struct vfio_device_feature_dma_logging_range *range)
{
    // ruleid: VFIO009
    if (range->iova + range->length > device->max_iova)
        return -EINVAL;
    return 0;
}

// path: lib/eal/linux/eal_vfio.c
// DPDK: a client fills the ioctl's request itself; its values are not the peer's.
#include <rte_vfio.h>

static int
vfio_type1_dma_mem_map(int vfio_container_fd, uint64_t vaddr, uint64_t iova,
                       uint64_t len, int do_map)
{
    struct vfio_iommu_type1_dma_map dma_map;

    memset(&dma_map, 0, sizeof(dma_map));
    dma_map.argsz = sizeof(struct vfio_iommu_type1_dma_map);
    dma_map.vaddr = vaddr;
    dma_map.size = len;
    dma_map.iova = iova;
    // ok: VFIO009
    if (dma_map.iova + dma_map.size > RTE_BAD_IOVA)
        return -1;
    return ioctl(vfio_container_fd, VFIO_IOMMU_MAP_DMA, &dma_map);
}

// path: module/vfu_device/vfu_virtio_blk.c
// SPDK: a libvfio-user region callback; the library checked offset and count.
#include "spdk/vfu_target.h"

static ssize_t
virtio_blk_cfg_access(struct spdk_vfu_endpoint *endpoint, char *buf, size_t count,
                      loff_t offset, bool is_write)
{
    // ok: VFIO009
    if (offset + count > sizeof(struct virtio_blk_config))
        return -EINVAL;
    return count;
}

// path: samples/client.c
// libvfio-user's client receives DMA accesses from the server.
struct vfio_user_dma_region_access {
    uint64_t addr;
    uint64_t count;
    uint8_t data[];
};

static int
handle_dma_read(struct client_dma *regions, int nr, struct vfio_user_dma_region_access *acc)
{
    int i;

    for (i = 0; i < nr; i++) {
        // ruleid: VFIO009
        if (acc->addr >= regions[i].addr && acc->addr + acc->count <= regions[i].end)
            return i;
    }
    return -1;
}
