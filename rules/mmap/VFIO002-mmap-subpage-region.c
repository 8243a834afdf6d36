// Annotated cases for VFIO002 (mmap-subpage-region): a region mmap'd because
// VFIO_REGION_INFO_FLAG_MMAP is set, whose mapping is exposed at page granularity (guest RAM,
// a KVM memory slot, a DMA mapping, a length rounded up) with no check that the region
// fills its pages. The finding is the exposure; a driver mapping its own registers is not.
// Each case is its own function; helpers belong to one case only.
// path: hw/vfio/pci.c

#include <stdint.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/vfio.h>

/* ---- QEMU: the mapping becomes guest memory ------------------------------------------ */

/* QEMU before v2.6: the flag alone decides, and the mapping is a RAM region. */
static int case_qemu_bar_ram_ptr(VFIOBAR *bar, MemoryRegion *mem, MemoryRegion *submem,
                                 void **map, size_t size, off_t offset, const char *name)
{
    int ret = 0;

    if (VFIO_ALLOW_MMAP && size && bar->flags & VFIO_REGION_INFO_FLAG_MMAP) {
        int prot = PROT_READ | PROT_WRITE;

        *map = mmap(NULL, size, prot, MAP_SHARED, bar->fd, bar->fd_offset + offset);
        if (*map == MAP_FAILED) {
            *map = NULL;
            ret = -errno;
            goto empty_region;
        }
        // ruleid: VFIO002
        memory_region_init_ram_ptr(submem, OBJECT(bar), name, size, *map);
    } else {
empty_region:
        memory_region_init(submem, OBJECT(bar), name, 0);
    }
    memory_region_add_subregion(mem, offset, submem);
    return ret;
}

/* The mapping kept in a member, exposed by the same function a few lines later. */
static int case_qemu_region_member(VFIORegion *region, VFIODevice *vbasedev, int prot)
{
    if (!(region->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
        return 0;
    }
    region->mmaps[0].mmap = mmap(NULL, region->size, prot, MAP_SHARED, vbasedev->fd,
                                 region->fd_offset);
    if (region->mmaps[0].mmap == MAP_FAILED) {
        return -errno;
    }
    // ruleid: VFIO002
    memory_region_init_ram_device_ptr(&region->mmaps[0].mem, OBJECT(vbasedev->dev),
                                      "bar-mmap", region->size, region->mmaps[0].mmap);
    return 0;
}

/* The RHEL backport: only regions of at least a page are mapped. */
static int case_ok_qemu_target_page_mask(VFIOBAR *bar, MemoryRegion *submem, void **map,
                                         size_t size, const char *name)
{
    if (VFIO_ALLOW_MMAP && size && bar->flags & VFIO_REGION_INFO_FLAG_MMAP &&
        !(size & ~TARGET_PAGE_MASK)) {
        *map = mmap(NULL, size, PROT_READ, MAP_SHARED, bar->fd, bar->fd_offset);
        // ok: VFIO002
        memory_region_init_ram_ptr(submem, OBJECT(bar), name, size, *map);
    }
    return 0;
}

/* A page-size word about another value (the MSI-X table offset) is not a check of the size
 * that is mapped. */
static int case_qemu_mask_of_other_value(VFIORegion *region, VFIODevice *vbasedev,
                                         uint32_t table_offset)
{
    uint64_t table_page = table_offset & TARGET_PAGE_MASK;

    if (region->flags & VFIO_REGION_INFO_FLAG_MMAP && table_page) {
        region->mmaps[0].mmap = mmap(NULL, region->size, PROT_READ, MAP_SHARED,
                                     vbasedev->fd, region->fd_offset);
        // ruleid: VFIO002
        memory_region_init_ram_device_ptr(&region->mmaps[0].mem, OBJECT(vbasedev->dev),
                                          "bar", region->size, region->mmaps[0].mmap);
    }
    return 0;
}

/* Sub-page BARs handled on a separate path. */
static int case_ok_qemu_sub_page_path(VFIORegion *region, VFIODevice *vbasedev)
{
    if (!(region->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
        return 0;
    }
    if (region->size < qemu_real_host_page_size()) {
        return vfio_sub_page_bar_update_mapping(vbasedev, region);
    }
    region->mmaps[0].mmap = mmap(NULL, region->size, PROT_READ, MAP_SHARED, vbasedev->fd,
                                 region->fd_offset);
    // ok: VFIO002
    memory_region_init_ram_device_ptr(&region->mmaps[0].mem, OBJECT(vbasedev->dev), "bar",
                                      region->size, region->mmaps[0].mmap);
    return 0;
}

/* The flag only turns off posted writes: nothing is mapped. */
static int case_ok_vfio_user_posted_writes(VFIOUserProxy *proxy, struct vfio_region_info *info)
{
    // ok: VFIO002
    if (info->flags & VFIO_REGION_INFO_FLAG_MMAP) {
        vfio_user_disable_posted_writes(proxy);
    }
    return 0;
}

/* Printing the flags decides nothing. */
static void case_ok_print_flags(struct vfio_region_info *info)
{
    // ok: VFIO002
    printf("mmap: %s\n", info->flags & VFIO_REGION_INFO_FLAG_MMAP ? "yes" : "no");
}

/* A lookup that returns early and maps nothing. */
static bool case_ok_lookup_only(struct vfio_region_info *info, int want)
{
    // ok: VFIO002
    if (!(info->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
        return false;
    }
    return info->index == want;
}

/* ---- kvmtool: the mapping becomes a KVM memory slot ----------------------------------- */
// path: vfio/core.c

int case_kvmtool_negated_flag(struct kvm *kvm, struct vfio_device *vdev,
                              struct vfio_region *region)
{
	void *base;

	if (!(region->info.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return vfio_setup_trap_region(kvm, vdev, region);

	base = mmap(NULL, region->info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    vdev->fd, region->info.offset);
	if (base == MAP_FAILED)
		return -errno;
	// ruleid: VFIO002
	return kvm__register_dev_mem(kvm, region->guest_phys_addr,
				     region->info.size, base);
}

/* The slot's length is rounded up to a page: it covers memory past the region. A check of
 * the guest address says nothing about the size. */
int case_kvmtool_rounded_slot(struct kvm *kvm, struct vfio_device *vdev,
			      struct vfio_region *region)
{
	u64 map_size = ALIGN(region->info.size, PAGE_SIZE);
	void *base;

	if (!(region->info.flags & VFIO_REGION_INFO_FLAG_MMAP))
		return vfio_setup_trap_region(kvm, vdev, region);
	if (region->guest_phys_addr & (PAGE_SIZE - 1))
		return vfio_setup_trap_region(kvm, vdev, region);

	base = mmap(NULL, region->info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    vdev->fd, region->info.offset);
	// ruleid: VFIO002
	return kvm__register_dev_mem(kvm, region->guest_phys_addr, map_size, base);
}

/* The page check lives in a helper the condition calls. */
static bool case_ok_kvmtool_helper_fills_pages(struct vfio_region *region)
{
	return !(region->info.size & (PAGE_SIZE - 1)) &&
	       !(region->guest_phys_addr & (PAGE_SIZE - 1));
}

int case_ok_kvmtool_helper(struct kvm *kvm, struct vfio_device *vdev,
			   struct vfio_region *region)
{
	void *base;

	if (!(region->info.flags & VFIO_REGION_INFO_FLAG_MMAP) ||
	    !case_ok_kvmtool_helper_fills_pages(region))
		return vfio_setup_trap_region(kvm, vdev, region);

	base = mmap(NULL, region->info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    vdev->fd, region->info.offset);
	// ok: VFIO002
	return kvm__register_dev_mem(kvm, region->guest_phys_addr,
				     region->info.size, base);
}

/* Registered with KVM, but only regions that fill whole pages. */
int case_ok_kvmtool_size_check(struct kvm *kvm, struct vfio_device *vdev,
			       struct vfio_region *region)
{
	void *base;

	if (!(region->info.flags & VFIO_REGION_INFO_FLAG_MMAP) ||
	    region->info.size % PAGE_SIZE)
		return vfio_setup_trap_region(kvm, vdev, region);

	base = mmap(NULL, region->info.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    vdev->fd, region->info.offset);
	// ok: VFIO002
	return kvm__register_dev_mem(kvm, region->guest_phys_addr, region->info.size, base);
}

/* ---- DPDK: a driver maps a BAR for its own register accesses -------------------------- */
// path: drivers/bus/pci/linux/pci_vfio.c

static int
case_ok_dpdk_own_registers(int vfio_dev_fd, struct vfio_region_info *reg,
		struct pci_map *map)
{
	void *bar_addr;

	/* skip non-mmappable BARs */
	// ok: VFIO002
	if ((reg->flags & VFIO_REGION_INFO_FLAG_MMAP) == 0)
		return 0;

	bar_addr = mmap(NULL, reg->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			vfio_dev_fd, reg->offset);
	map->addr = bar_addr;
	return bar_addr == MAP_FAILED ? -1 : 0;
}

/* The BAR mapping handed to the IOMMU for peer-to-peer DMA: exposed at page granularity. */
static int
case_dpdk_bar_dma_map(int vfio_dev_fd, int container_fd, struct vfio_region_info *reg,
		uint64_t iova)
{
	struct vfio_iommu_type1_dma_map dma_map = { .argsz = sizeof(dma_map) };
	void *bar_addr;

	if ((reg->flags & VFIO_REGION_INFO_FLAG_MMAP) == 0)
		return 0;

	bar_addr = mmap(NULL, reg->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			vfio_dev_fd, reg->offset);
	// ruleid: VFIO002
	dma_map.vaddr = (uint64_t)(uintptr_t)bar_addr;
	dma_map.size = reg->size;
	dma_map.iova = iova;
	return ioctl(container_fd, VFIO_IOMMU_MAP_DMA, &dma_map);
}

/* A length rounded up to the page maps past the region's end, whoever uses it. */
static void *
case_dpdk_rounded_length(int vfio_dev_fd, struct vfio_region_info *reg)
{
	size_t len = RTE_ALIGN_CEIL(reg->size, rte_mem_page_size());

	if ((reg->flags & VFIO_REGION_INFO_FLAG_MMAP) == 0)
		return NULL;
	// ruleid: VFIO002
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, vfio_dev_fd, reg->offset);
}

/* ---- libvfio-user client and SPDK: their own accesses ---------------------------------- */
// path: lib/vfio_user/host/vfio_user_pci.c

static void
case_ok_client_own_access(int fd, struct vfio_region_info region_info)
{
    // ok: VFIO002
    if (fd >= 0 && (region_info.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
        void *addr = mmap(NULL, region_info.size, PROT_READ | PROT_WRITE,
                          MAP_SHARED, fd, region_info.offset);
        munmap(addr, region_info.size);
    }
}

static int
case_ok_spdk_split_map_helper(struct vfio_pci_region *region, int fd)
{
	region->vaddr = mmap(NULL, region->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			     fd, region->offset);
	return region->vaddr == MAP_FAILED ? -EFAULT : 0;
}

static int
case_ok_spdk_split(struct vfio_pci_region *region, struct vfio_region_info *info, int fd)
{
	// ok: VFIO002
	if (fd >= 0 && (info->flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		return case_ok_spdk_split_map_helper(region, fd);
	}
	return 0;
}

/* ---- Linux kernel: a variant driver maps a region into a process ----------------------- */
// path: drivers/vfio/pci/example/main.c

/* A kernel mmap handler that gates on its own flag and maps a whole vma, unbounded. */
static int case_kernel_mmap_unbounded(struct vfio_device *core_vdev,
				      struct vm_area_struct *vma)
{
	struct example_vfio_device *vdev =
		container_of(core_vdev, struct example_vfio_device, vdev);
	struct example_region *region = &vdev->regions[vma->vm_pgoff >> 28];

	if (!(region->flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -EINVAL;

	// ruleid: VFIO002
	return remap_pfn_range(vma, vma->vm_start, region->phys >> 12,
			       vma->vm_end - vma->vm_start, vma->vm_page_prot);
}

static int case_ok_kernel_mmap_page_bound(struct vfio_device *core_vdev,
					  struct vm_area_struct *vma)
{
	struct example_vfio_device *vdev =
		container_of(core_vdev, struct example_vfio_device, vdev);
	unsigned int index = vma->vm_pgoff >> (EXAMPLE_OFFSET_SHIFT - PAGE_SHIFT);
	struct example_region *region = &vdev->regions[index];
	u64 req_len = vma->vm_end - vma->vm_start;

	if (!(region->flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -EINVAL;
	if (req_len > PAGE_ALIGN(region->size))
		return -EINVAL;

	// ok: VFIO002
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
