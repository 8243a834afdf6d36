// Annotated cases for VFIO001 (dma-map-file-private): file-based DMA mapping chosen because
// memory has an fd, without requiring a shared mapping. Each case is its own function; helpers
// belong to one case only. QEMU style first, then userspace drivers, then a kernel selftest.
// path: hw/vfio/container.c

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/iommufd.h>

/* ---- QEMU container / iommufd: must fire -------------------------------------------- */

int case_qemu_fd_and_hook(VFIOContainer *bcontainer, hwaddr iova, uint64_t size,
                          void *vaddr, bool readonly, MemoryRegion *mr)
{
    VFIOIOMMUClass *vioc = VFIO_IOMMU_GET_CLASS(bcontainer);
    RAMBlock *rb = mr->ram_block;
    int mfd = rb ? qemu_ram_get_fd(rb) : -1;

    // ruleid: VFIO001
    if (mfd >= 0 && vioc->dma_map_file) {
        unsigned long start = vaddr - qemu_ram_get_host_addr(rb);

        return vioc->dma_map_file(bcontainer, iova, size, mfd,
                                  start + qemu_ram_get_fd_offset(rb), readonly);
    }
    return vioc->dma_map(bcontainer, iova, size, vaddr, readonly, mr);
}

int case_qemu_fd_body_backend(VFIOIOMMUFDContainer *container, hwaddr iova,
                              uint64_t size, void *vaddr, bool readonly,
                              MemoryRegion *mr)
{
    int fd = memory_region_get_fd(mr);

    // ruleid: VFIO001
    if (fd >= 0) {
        return iommufd_backend_map_file_dma(container->be, container->ioas_id,
                                            iova, size, fd,
                                            qemu_ram_block_host_offset(mr->ram_block, vaddr),
                                            readonly);
    }
    return iommufd_backend_map_dma(container->be, container->ioas_id, iova,
                                   size, vaddr, readonly);
}

int case_qemu_ternary(VFIOIOMMUFDContainer *container, MemoryRegionSection *section,
                      void *vaddr, unsigned long start)
{
    RAMBlock *block = section->mr->ram_block;
    int block_fd = qemu_ram_get_fd(block);
    hwaddr iova = section->offset_within_address_space;
    uint64_t len = int128_get64(section->size);

    // ruleid: VFIO001
    return block_fd >= 0 ?
           iommufd_backend_map_file_dma(container->be, container->ioas_id, iova,
                                        len, block_fd, start, false) :
           iommufd_backend_map_dma(container->be, container->ioas_id, iova,
                                   len, vaddr, false);
}

int case_qemu_get_fd_call_in_condition(VFIOContainer *bcontainer, hwaddr iova,
                                       uint64_t size, void *vaddr,
                                       MemoryRegion *mr)
{
    VFIOIOMMUClass *vioc = VFIO_IOMMU_GET_CLASS(bcontainer);
    RAMBlock *rb = mr->ram_block;

    // ruleid: VFIO001
    if (rb && qemu_ram_get_fd(rb) >= 0) {
        return vioc->dma_map_file(bcontainer, iova, size, qemu_ram_get_fd(rb),
                                  qemu_ram_get_fd_offset(rb), false);
    }
    return vioc->dma_map(bcontainer, iova, size, vaddr, false, mr);
}

int case_qemu_nested_if(VFIOContainer *bcontainer, hwaddr iova, uint64_t size,
                        void *vaddr, MemoryRegion *mr)
{
    VFIOIOMMUClass *vioc = VFIO_IOMMU_GET_CLASS(bcontainer);
    RAMBlock *rb = mr->ram_block;

    if (rb && vioc->dma_map_file) {
        int ram_fd = qemu_ram_get_fd(rb);

        // ruleid: VFIO001
        if (ram_fd != -1) {
            return vioc->dma_map_file(bcontainer, iova, size, ram_fd,
                                      qemu_ram_get_fd_offset(rb), false);
        }
    }
    return vioc->dma_map(bcontainer, iova, size, vaddr, false, mr);
}

/* The fd comes from a helper and is kept in a variable whose name does not say "fd". */
static int case_split_backing_fd_helper(MemoryRegion *mr)
{
    return mr->ram_block ? qemu_ram_get_fd(mr->ram_block) : -1;
}

int case_split_backing_fd(VFIOIOMMUFDContainer *container, hwaddr iova,
                          uint64_t size, void *vaddr, MemoryRegion *mr)
{
    int backing = case_split_backing_fd_helper(mr);

    // ruleid: VFIO001
    if (backing >= 0) {
        return iommufd_backend_map_file_dma(container->be, container->ioas_id,
                                            iova, size, backing, 0, false);
    }
    return iommufd_backend_map_dma(container->be, container->ioas_id, iova,
                                   size, vaddr, false);
}

/* The choice is negated: anonymous memory returns early, the fall-through maps the file. */
int case_qemu_negated_fd_test(VFIOContainer *bcontainer, hwaddr iova, uint64_t size,
                              void *vaddr, MemoryRegion *mr)
{
    VFIOIOMMUClass *vioc = VFIO_IOMMU_GET_CLASS(bcontainer);
    int fd = memory_region_get_fd(mr);

    // ruleid: VFIO001
    if (fd < 0) {
        return vioc->dma_map(bcontainer, iova, size, vaddr, false, mr);
    }
    return vioc->dma_map_file(bcontainer, iova, size, fd,
                              qemu_ram_get_fd_offset(mr->ram_block), false);
}

/* ---- QEMU: must not fire ------------------------------------------------------------ */

int case_ok_qemu_is_shared(VFIOContainer *bcontainer, hwaddr iova, uint64_t size,
                           void *vaddr, MemoryRegion *mr)
{
    VFIOIOMMUClass *vioc = VFIO_IOMMU_GET_CLASS(bcontainer);
    RAMBlock *rb = mr->ram_block;
    int mfd = rb ? qemu_ram_get_fd(rb) : -1;

    // ok: VFIO001
    if (mfd >= 0 && vioc->dma_map_file && qemu_ram_is_shared(rb)) {
        return vioc->dma_map_file(bcontainer, iova, size, mfd,
                                  qemu_ram_get_fd_offset(rb), false);
    }
    return vioc->dma_map(bcontainer, iova, size, vaddr, false, mr);
}

int case_ok_qemu_ram_device(VFIOContainer *bcontainer, hwaddr iova, uint64_t size,
                            void *vaddr, MemoryRegion *mr)
{
    VFIOIOMMUClass *vioc = VFIO_IOMMU_GET_CLASS(bcontainer);
    int dmabuf_fd = memory_region_get_fd(mr);

    // ok: VFIO001
    if (memory_region_is_ram_device(mr) && dmabuf_fd >= 0) {
        return vioc->dma_map_file(bcontainer, iova, size, dmabuf_fd, 0, false);
    }
    return vioc->dma_map(bcontainer, iova, size, vaddr, false, mr);
}

/* The shared-RAM test sits in the helper that hands out the descriptor. */
static int case_ok_helper_shared_fd(RAMBlock *rb)
{
    if (!rb || !(rb->flags & RAM_SHARED)) {
        return -1;
    }
    return qemu_ram_get_fd(rb);
}

int case_ok_helper_shared(VFIOIOMMUFDContainer *container, hwaddr iova,
                          uint64_t size, void *vaddr, MemoryRegion *mr)
{
    int fd = case_ok_helper_shared_fd(mr->ram_block);

    // ok: VFIO001
    if (fd >= 0) {
        return iommufd_backend_map_file_dma(container->be, container->ioas_id,
                                            iova, size, fd, 0, false);
    }
    return iommufd_backend_map_dma(container->be, container->ioas_id, iova,
                                   size, vaddr, false);
}

/* HostMemoryBackend's "share" property is what makes the file mapping MAP_SHARED. */
int case_ok_backend_share(VFIOContainer *bcontainer, HostMemoryBackend *backend,
                          hwaddr iova, uint64_t size, void *vaddr, MemoryRegion *mr)
{
    VFIOIOMMUClass *vioc = VFIO_IOMMU_GET_CLASS(bcontainer);
    int fd = memory_region_get_fd(mr);

    // ok: VFIO001
    if (backend->share && fd >= 0) {
        return vioc->dma_map_file(bcontainer, iova, size, fd, 0, false);
    }
    return vioc->dma_map(bcontainer, iova, size, vaddr, false, mr);
}

/* The backend wrapper only issues the ioctl: the fd in its condition is the iommufd. */
int case_ok_backend_wrapper(IOMMUFDBackend *be, uint32_t ioas_id, hwaddr iova,
                            uint64_t size, int mfd, unsigned long start)
{
    int fd = be->fd;
    struct iommu_ioas_map_file map = {
        .size = sizeof(map),
        .flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA,
        .ioas_id = ioas_id,
        .fd = mfd,
        .start = start,
        .iova = iova,
        .length = size,
    };

    // ok: VFIO001
    if (ioctl(fd, IOMMU_IOAS_MAP_FILE, &map)) {
        error_report("IOMMU_IOAS_MAP_FILE failed: %m");
        return -errno;
    }
    return 0;
}

/* An fd test that chooses nothing: it only closes the descriptor. */
void case_ok_fd_cleanup(VFIOContainer *bcontainer, int fd)
{
    VFIOIOMMUClass *vioc = VFIO_IOMMU_GET_CLASS(bcontainer);

    // ok: VFIO001
    if (fd >= 0) {
        close(fd);
    }
    bcontainer->map_file_supported = vioc->dma_map_file != NULL;
}

/* ---- userspace drivers (DPDK / SPDK style) ------------------------------------------ */

static int
case_dpdk_map_file_helper(struct vfio_config *vfio_cfg, int fd, uint64_t start,
		uint64_t iova, uint64_t len)
{
	struct iommu_ioas_map_file map;

	memset(&map, 0, sizeof(map));
	map.size = sizeof(map);
	map.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE |
			IOMMU_IOAS_MAP_FIXED_IOVA;
	map.ioas_id = vfio_cfg->ioas_id;
	map.fd = fd;
	map.start = start;
	map.length = len;
	map.iova = iova;
	return ioctl(vfio_cfg->iommufd, IOMMU_IOAS_MAP_FILE, &map);
}

/* The caller picks the file mapping; the ioctl is in the helper above. */
static int
case_dpdk_seg_fd_helper_call(struct vfio_config *vfio_cfg,
		const struct rte_memseg *ms)
{
	size_t offset;
	int seg_fd = rte_memseg_get_fd_thread_unsafe(ms);

	// ruleid: VFIO001
	if (seg_fd >= 0 && rte_memseg_get_fd_offset_thread_unsafe(ms, &offset) == 0)
		return case_dpdk_map_file_helper(vfio_cfg, seg_fd, offset,
				ms->iova, ms->len);
	return vfio_iommufd_map_va(vfio_cfg, ms->addr_64, ms->iova, ms->len);
}

static int
case_dpdk_seg_fd_inline(struct vfio_config *vfio_cfg, const struct rte_memseg *ms)
{
	struct iommu_ioas_map_file map = { .size = sizeof(map) };
	int msl_fd = rte_memseg_get_fd_thread_unsafe(ms);

	// ruleid: VFIO001
	if (msl_fd < 0)
		return vfio_iommufd_map_va(vfio_cfg, ms->addr_64, ms->iova, ms->len);

	map.fd = msl_fd;
	map.iova = ms->iova;
	map.length = ms->len;
	return ioctl(vfio_cfg->iommufd, IOMMU_IOAS_MAP_FILE, &map);
}

static int
case_dpdk_fd_then_ioctl_in_body(struct vfio_config *vfio_cfg,
		const struct rte_memseg *ms, int mem_fd, uint64_t fd_off)
{
	struct iommu_ioas_map_file map = { .size = sizeof(map) };

	// ruleid: VFIO001
	if (mem_fd >= 0) {
		map.fd = mem_fd;
		map.start = fd_off;
		map.iova = ms->iova;
		map.length = ms->len;
		return ioctl(vfio_cfg->iommufd, IOMMU_IOAS_MAP_FILE, &map);
	}
	return vfio_iommufd_map_va(vfio_cfg, ms->addr_64, ms->iova, ms->len);
}

int
case_spdk_memfd(const struct spdk_iommufd_map_req *req)
{
	int memfd = req->memfd;

	// ruleid: VFIO001
	if (memfd >= 0) {
		struct iommu_ioas_map_file map_file = {
			.size = sizeof(map_file),
			.fd = memfd,
			.start = req->memfd_offset,
			.length = req->size,
			.iova = req->iova,
		};

		return ioctl(g_iommufd.iommufd, IOMMU_IOAS_MAP_FILE, &map_file) ? -errno : 0;
	}
	return iommufd_map_va(req);
}

int
case_ok_spdk_map_shared(const struct spdk_iommufd_map_req *req)
{
	struct iommu_ioas_map_file map_file = { .size = sizeof(map_file) };

	// ok: VFIO001
	if (req->fd >= 0 && (req->mmap_flags & MAP_SHARED)) {
		map_file.fd = req->fd;
		map_file.length = req->size;
		map_file.iova = req->iova;
		return ioctl(g_iommufd.iommufd, IOMMU_IOAS_MAP_FILE, &map_file) ? -errno : 0;
	}
	return iommufd_map_va(req);
}

/* ---- kernel selftest style ---------------------------------------------------------- */

static int case_selftest_map_file(int iommufd, unsigned int ioas_id, int mfd,
				  __u64 iova, size_t length)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE,
		.ioas_id = ioas_id,
		.length = length,
		.iova = iova,
	};

	// ruleid: VFIO001
	if (mfd != -1) {
		cmd.fd = mfd;
		return ioctl(iommufd, IOMMU_IOAS_MAP_FILE, &cmd);
	}
	return map_by_va(iommufd, ioas_id, iova, length);
}

static int case_ok_selftest_shared_memfd(int iommufd, unsigned int ioas_id,
					 size_t length)
{
	struct iommu_ioas_map_file cmd = { .size = sizeof(cmd) };
	int mfd = memfd_create("buffer", 0);
	void *buf;

	if (mfd < 0 || ftruncate(mfd, length))
		return -1;
	buf = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (buf == MAP_FAILED)
		return -1;

	cmd.ioas_id = ioas_id;
	cmd.length = length;
	cmd.fd = mfd;
	// ok: VFIO001
	if (mfd >= 0)
		return ioctl(iommufd, IOMMU_IOAS_MAP_FILE, &cmd);
	return -1;
}
