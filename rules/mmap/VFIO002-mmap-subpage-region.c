// Annotated cases for VFIO002 (mmap-subpage-region): a region mmap'd because
// VFIO_REGION_INFO_FLAG_MMAP is set, with no page-size check of its size and offset.
// Each case is its own function; helpers belong to one case only.
// path: hw/vfio/region.c

#include <stdint.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/vfio.h>

/* ---- QEMU ---------------------------------------------------------------------------- */

int case_qemu_region_flags(VFIORegion *region, VFIODevice *vbasedev)
{
    // ruleid: VFIO002
    if (!vbasedev->no_mmap && region->flags & VFIO_REGION_INFO_FLAG_MMAP) {
        region->nr_mmaps = 1;
        region->mmaps = g_new0(VFIOMmap, 1);
        region->mmaps[0].size = region->size;
    }
    return 0;
}

int case_qemu_bar_mmap(VFIOBAR *bar, VFIODevice *vbasedev, int prot)
{
    uint64_t size = bar->region.size;

    // ruleid: VFIO002
    if (size && bar->region.flags & VFIO_REGION_INFO_FLAG_MMAP) {
        bar->region.mmap = mmap(NULL, size, prot, MAP_SHARED, vbasedev->fd,
                                bar->region.fd_offset);
    }
    return 0;
}

int case_qemu_flag_on_left(struct vfio_region_info *info, QEMUVFIOState *s)
{
    // ruleid: VFIO002
    if (VFIO_REGION_INFO_FLAG_MMAP & info->flags) {
        s->bar_map = mmap(NULL, info->size, PROT_READ | PROT_WRITE, MAP_SHARED,
                          s->device, info->offset);
    }
    return 0;
}

int case_ok_qemu_target_page_mask(VFIORegion *region, VFIODevice *vbasedev)
{
    // ok: VFIO002
    if (!vbasedev->no_mmap && region->flags & VFIO_REGION_INFO_FLAG_MMAP &&
        !(region->size & ~TARGET_PAGE_MASK)) {
        region->nr_mmaps = 1;
        region->mmaps = g_new0(VFIOMmap, 1);
        region->mmaps[0].size = region->size;
    }
    return 0;
}

int case_ok_qemu_target_page_size(VFIOBAR *bar, VFIODevice *vbasedev, int prot)
{
    uint64_t size = bar->region.size;

    // ok: VFIO002
    if (size >= TARGET_PAGE_SIZE && bar->region.flags & VFIO_REGION_INFO_FLAG_MMAP) {
        bar->region.mmap = mmap(NULL, size, prot, MAP_SHARED, vbasedev->fd,
                                bar->region.fd_offset);
    }
    return 0;
}

void *case_ok_qemu_real_host_page_size(QEMUVFIOState *s, struct vfio_region_info *info,
                                       uint64_t offset, int prot)
{
    // ok: VFIO002
    if (!(info->flags & VFIO_REGION_INFO_FLAG_MMAP) ||
        info->size < qemu_real_host_page_size()) {
        return NULL;
    }
    return mmap(NULL, info->size - offset, prot, MAP_SHARED, s->device,
                info->offset + offset);
}

void *case_ok_qemu_is_aligned(QEMUVFIOState *s, struct vfio_region_info *info, int prot)
{
    // ok: VFIO002
    if ((info->flags & VFIO_REGION_INFO_FLAG_MMAP) &&
        QEMU_IS_ALIGNED(info->offset, REAL_HOST_PAGE_ALIGN(1)) &&
        info->size == REAL_HOST_PAGE_ALIGN(info->size)) {
        return mmap(NULL, info->size, prot, MAP_SHARED, s->device, info->offset);
    }
    return NULL;
}

/* vfio-user client: the flag only turns off posted writes, nothing is mapped here. */
static int case_vfio_user_posted_writes(VFIOUserProxy *proxy, struct vfio_region_info *info)
{
    // ok: VFIO002
    if (info->flags & VFIO_REGION_INFO_FLAG_MMAP) {
        vfio_user_disable_posted_writes(proxy);
    }
    return 0;
}

/* ---- DPDK ---------------------------------------------------------------------------- */

static int
case_dpdk_skip_non_mmappable(int vfio_dev_fd, struct vfio_region_info *reg,
		struct pci_map *map)
{
	void *bar_addr;

	/* skip non-mmappable BARs */
	// ruleid: VFIO002
	if ((reg->flags & VFIO_REGION_INFO_FLAG_MMAP) == 0)
		return 0;

	bar_addr = mmap(NULL, reg->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			vfio_dev_fd, reg->offset);
	map->addr = bar_addr;
	return bar_addr == MAP_FAILED ? -1 : 0;
}

static int
case_ok_dpdk_rte_mem_page_size(int vfio_dev_fd, struct vfio_region_info *reg,
		struct pci_map *map)
{
	size_t page_sz = rte_mem_page_size();

	// ok: VFIO002
	if ((reg->flags & VFIO_REGION_INFO_FLAG_MMAP) == 0 ||
			(reg->size & (page_sz - 1)) != 0)
		return 0;

	map->addr = mmap(NULL, reg->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			vfio_dev_fd, reg->offset);
	return map->addr == MAP_FAILED ? -1 : 0;
}

static int
case_ok_dpdk_sysconf(int vfio_dev_fd, struct vfio_region_info *reg, struct pci_map *map)
{
	long pagesz = sysconf(_SC_PAGESIZE);

	// ok: VFIO002
	if (!(reg->flags & VFIO_REGION_INFO_FLAG_MMAP) || reg->size % pagesz != 0)
		return 0;

	map->addr = mmap(NULL, reg->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			vfio_dev_fd, reg->offset);
	return map->addr == MAP_FAILED ? -1 : 0;
}

/* The page size kept in a device field named pgsize, filled at probe time elsewhere. */
static int
case_ok_dpdk_pgsize_field(struct vfio_dev *vdev, struct vfio_region_info *reg,
		struct pci_map *map)
{
	// ok: VFIO002
	if (!(reg->flags & VFIO_REGION_INFO_FLAG_MMAP) || (reg->size & (vdev->pgsize - 1)))
		return 0;

	map->addr = mmap(NULL, reg->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			vdev->fd, reg->offset);
	return map->addr == MAP_FAILED ? -1 : 0;
}

/* ---- kvmtool ------------------------------------------------------------------------- */

int case_kvmtool_negated_flag(struct kvm *kvm, struct vfio_device *vdev,
			      struct vfio_region *region)
{
	void *base;

	// ruleid: VFIO002
	if (!(region->info.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return vfio_setup_trap_region(kvm, vdev, region);

	base = mmap(NULL, region->info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    vdev->fd, region->info.offset);
	if (base == MAP_FAILED)
		return -errno;
	return kvm__register_dev_mem(kvm, region->guest_phys_addr,
				     region->info.size, base);
}

int case_ok_kvmtool_page_size(struct kvm *kvm, struct vfio_device *vdev,
			      struct vfio_region *region)
{
	u64 map_size = ALIGN(region->info.size, PAGE_SIZE);
	void *base;

	// ok: VFIO002
	if (!(region->info.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return vfio_setup_trap_region(kvm, vdev, region);
	if (region->guest_phys_addr & (PAGE_SIZE - 1))
		return vfio_setup_trap_region(kvm, vdev, region);

	base = mmap(NULL, region->info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    vdev->fd, region->info.offset);
	return kvm__register_dev_mem(kvm, region->guest_phys_addr, map_size, base);
}

/* The page check lives in a helper the caller calls. */
static bool case_ok_kvmtool_helper_fills_pages(struct vfio_region *region)
{
	return !(region->info.size & (PAGE_SIZE - 1)) &&
	       !(region->guest_phys_addr & (PAGE_SIZE - 1));
}

int case_ok_kvmtool_helper(struct kvm *kvm, struct vfio_device *vdev,
			   struct vfio_region *region)
{
	void *base;

	// ok: VFIO002
	if (!(region->info.flags & VFIO_REGION_INFO_FLAG_MMAP) ||
	    !case_ok_kvmtool_helper_fills_pages(region))
		return vfio_setup_trap_region(kvm, vdev, region);

	base = mmap(NULL, region->info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    vdev->fd, region->info.offset);
	return kvm__register_dev_mem(kvm, region->guest_phys_addr,
				     region->info.size, base);
}

/* ---- libvfio-user client / SPDK ------------------------------------------------------ */

static void
case_libvfio_user_client(int fd, struct vfio_region_info region_info)
{
    // ruleid: VFIO002
    if (fd >= 0 && (region_info.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
        void *addr = mmap(NULL, region_info.size, PROT_READ | PROT_WRITE,
                          MAP_SHARED, fd, region_info.offset);
        munmap(addr, region_info.size);
    }
}

static void
case_ok_libvfio_user_getpagesize(int fd, struct vfio_region_info region_info)
{
    // ok: VFIO002
    if (fd >= 0 && (region_info.flags & VFIO_REGION_INFO_FLAG_MMAP) &&
        region_info.size % getpagesize() == 0) {
        void *addr = mmap(NULL, region_info.size, PROT_READ | PROT_WRITE,
                          MAP_SHARED, fd, region_info.offset);
        munmap(addr, region_info.size);
    }
}

/* Split hazard: the caller tests the flag, the helper mmaps; no page check in either. */
static int
case_spdk_split_map_helper(struct vfio_pci_region *region, int fd)
{
	region->vaddr = mmap(NULL, region->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			     fd, region->offset);
	return region->vaddr == MAP_FAILED ? -EFAULT : 0;
}

static int
case_spdk_split(struct vfio_pci_region *region, struct vfio_region_info *info, int fd)
{
	// ruleid: VFIO002
	if (fd >= 0 && (info->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		return case_spdk_split_map_helper(region, fd);
	}
	return 0;
}

/* The helper refuses regions that don't fill pages of dev->pagesz bytes. */
static int
case_ok_spdk_pagesz_helper(struct vfio_device *dev, struct vfio_pci_region *region, int fd)
{
	if ((region->size | region->offset) & (dev->pagesz - 1)) {
		return 0;
	}
	region->vaddr = mmap(NULL, region->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			     fd, region->offset);
	return region->vaddr == MAP_FAILED ? -EFAULT : 0;
}

static int
case_ok_spdk_pagesz(struct vfio_device *dev, struct vfio_pci_region *region,
		    struct vfio_region_info *info, int fd)
{
	// ok: VFIO002
	if (fd >= 0 && (info->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		return case_ok_spdk_pagesz_helper(dev, region, fd);
	}
	return 0;
}

/* ---- Linux kernel -------------------------------------------------------------------- */

/* A kernel mmap handler that gates on its own flag and maps a whole vma, unbounded. */
static int case_kernel_mmap_unbounded(struct vfio_device *core_vdev,
				      struct vm_area_struct *vma)
{
	struct example_vfio_device *vdev =
		container_of(core_vdev, struct example_vfio_device, vdev);
	struct example_region *region = &vdev->regions[vma->vm_pgoff >> 28];

	// ruleid: VFIO002
	if (!(region->flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -EINVAL;

	return remap_pfn_range(vma, vma->vm_start, region->phys >> 12,
			       vma->vm_end - vma->vm_start, vma->vm_page_prot);
}

static int case_ok_kernel_mmap_page_shift(struct vfio_device *core_vdev,
					  struct vm_area_struct *vma)
{
	struct example_vfio_device *vdev =
		container_of(core_vdev, struct example_vfio_device, vdev);
	unsigned int index = vma->vm_pgoff >> (EXAMPLE_OFFSET_SHIFT - PAGE_SHIFT);
	struct example_region *region = &vdev->regions[index];
	u64 req_len = vma->vm_end - vma->vm_start;

	// ok: VFIO002
	if (!(region->flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -EINVAL;
	if (req_len > PAGE_ALIGN(region->size))
		return -EINVAL;

	return remap_pfn_range(vma, vma->vm_start, region->phys >> PAGE_SHIFT,
			       req_len, vma->vm_page_prot);
}

/* Producer side: the kernel sets and clears the flag, it never tests it to map. */
static long case_ok_kernel_sets_flag(struct example_vfio_device *vdev,
				     struct vfio_region_info *info)
{
	info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	if (vdev->bar_mmap_supported[info->index])
		// ok: VFIO002
		info->flags |= VFIO_REGION_INFO_FLAG_MMAP;
	if (info->index == vdev->emulated_bar)
		// ok: VFIO002
		info->flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
	return 0;
}

static long case_ok_kernel_assigns_flags(struct vfio_region_info *info, bool mmappable)
{
	// ok: VFIO002
	info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		      (mmappable ? VFIO_REGION_INFO_FLAG_MMAP : 0);
	return 0;
}
