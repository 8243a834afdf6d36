/*
 * Annotated cases for VFIO003 (region-offset-truncated): where the offset and size of a
 * struct vfio_region_info end up, in a userspace driver (DPDK-style PCI bus code).
 */
// path: drivers/bus/pci/linux/pci_vfio.c

#include <stdint.h>
#include <sys/types.h>
#include <sys/ioctl.h>
#include <linux/vfio.h>

typedef uint32_t pci_bar_off_t;
typedef uint64_t pci_iova_off_t;

struct pci_vfio_bar_narrow {
	void *addr;
	uint32_t bar_offset;
	uint32_t bar_size;
};

struct pci_vfio_bar_wide {
	void *addr;
	uint64_t bar_offset;
	size_t bar_size;
};

/* kvmtool-style: a region trapped as I/O ports or placed in guest MMIO space */
struct vfio_port_region {
	struct vfio_region_info info;
	uint16_t port_base;
	uint16_t port_len;
	uint32_t mmio_len;
	int is_ioport;
};

struct pci_msix_cap {
	int bar_index;
	uint32_t offset;
	uint32_t size;
};

/* ---- must fire ---------------------------------------------------------------------- */

static int
case_u32_local(int fd, void *buf)
{
	struct vfio_region_info reg = { .argsz = sizeof(reg), .index = 0 };

	ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &reg);
	// ruleid: VFIO003
	uint32_t offset = reg.offset;
	return pread(fd, buf, 4, offset) == 4 ? 0 : -1;
}

static int
case_int_assign(struct vfio_region_info *info)
{
	int off;

	// ruleid: VFIO003
	off = info->offset;
	return off > 0;
}

static void
case_struct_member(struct pci_vfio_bar_narrow *bar,
		   const struct vfio_region_info *region_info)
{
	// ruleid: VFIO003
	bar->bar_offset = region_info->offset;
}

static void
case_struct_member_size(struct pci_vfio_bar_narrow *bar,
			const struct vfio_region_info *rinfo)
{
	// ruleid: VFIO003
	bar->bar_size = rinfo->size;
}

static pci_bar_off_t
case_typedef_local(const struct vfio_region_info *info)
{
	// ruleid: VFIO003
	pci_bar_off_t start = info->offset;

	return start;
}

static void
case_cast_into_pread(const struct vfio_region_info *info, int fd, char *buf, size_t len)
{
	// ruleid: VFIO003
	pread(fd, buf, len, (uint32_t)info->offset);
}

static int
pci_vfio_read_at(int fd, void *buf, size_t len, uint32_t where)
{
	return pread(fd, buf, len, where) == (ssize_t)len ? 0 : -1;
}

static int
case_narrow_parameter(int fd, void *buf, size_t len)
{
	struct vfio_region_info cfg = { .argsz = sizeof(cfg) };

	cfg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0)
		return -1;
	// ruleid: VFIO003
	return pci_vfio_read_at(fd, buf, len, cfg.offset);
}

/* wrappers defined in another file: the prototypes here are what the compiler sees */
int pci_vfio_read_cfg(int fd, void *buf, size_t len, uint32_t where);
int pci_vfio_read_cfg64(int fd, void *buf, size_t len, off_t where);
/* a pointer to a function is a variable: its parameters are not a prototype's */
static int (*pci_vfio_read_hook)(int fd, void *buf, size_t len, uint32_t where);

static int
case_narrow_prototype_parameter(int fd, void *buf, size_t len)
{
	struct vfio_region_info cfg = { .argsz = sizeof(cfg) };

	cfg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0)
		return -1;
	// ruleid: VFIO003
	return pci_vfio_read_cfg(fd, buf, len, cfg.offset);
}

static int
case_narrow_sum_into_sink_wrapper(int fd, void *buf, size_t len)
{
	struct vfio_region_info cfg = { .argsz = sizeof(cfg) };

	cfg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0)
		return -1;
	/* the sum is made in 64 bits and narrowed where the wrapper receives it */
	return pci_vfio_read_cfg(fd, buf, len,
				 // ruleid: VFIO003
				 cfg.offset + PCI_COMMAND);
}

static int
case_ok_wide_prototype_parameter(int fd, void *buf, size_t len)
{
	struct vfio_region_info cfg = { .argsz = sizeof(cfg) };

	cfg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0)
		return -1;
	// ok: VFIO003
	return pci_vfio_read_cfg64(fd, buf, len, cfg.offset);
}

static int
case_ok_function_pointer_parameter(int fd, void *buf, size_t len)
{
	struct vfio_region_info cfg = { .argsz = sizeof(cfg) };

	cfg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0)
		return -1;
	/* the hook's declared parameters are not looked at (a hook may be set to anything) */
	// ok: VFIO003
	return pci_vfio_read_hook(fd, buf, len, cfg.offset);
}

static unsigned int
case_return_unsigned_int(const struct vfio_region_info *reg)
{
	// ruleid: VFIO003
	return reg->size;
}

static void
case_unsigned_long(const struct vfio_region_info *info, void **addr, int fd)
{
	// ruleid: VFIO003
	unsigned long map_offset = info->offset;

	*addr = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, map_offset);
}

static void
case_region_array(int fd, void **maps)
{
	struct vfio_region_info regions[VFIO_PCI_NUM_REGIONS];
	uint32_t sizes[VFIO_PCI_NUM_REGIONS];
	int i;

	for (i = 0; i < VFIO_PCI_NUM_REGIONS; i++) {
		regions[i].argsz = sizeof(regions[i]);
		regions[i].index = i;
		ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &regions[i]);
		// ruleid: VFIO003
		sizes[i] = regions[i].size;
		maps[i] = mmap(NULL, sizes[i], PROT_READ, MAP_SHARED, fd, regions[i].offset);
	}
}

/* A value that moved: the offset is kept whole in a 64-bit member by one function, and
 * narrowed by the next, which maps the BAR (DPDK commit 33604c31354a's shape). */
struct pci_map_wide {
	void *addr;
	uint64_t offset;
	uint64_t size;
};

static void
record_bar(struct pci_map_wide *map, const struct vfio_region_info *reg)
{
	map->offset = reg->offset;
	map->size = reg->size;
}

static void *
case_moved_through_member(int fd, struct pci_map_wide *map)
{
	struct {
		unsigned long offset;
		unsigned long size;
	} memreg;

	// ruleid: VFIO003
	memreg.offset = map->offset;
	memreg.size = map->size;
	return mmap(NULL, memreg.size, PROT_READ, MAP_SHARED, fd, memreg.offset);
}

/* A value that goes into a call: narrowed before a wrapper whose parameters are wide. */
static void *
pci_vfio_map_window(int fd, off_t offset, size_t size)
{
	return mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
}

static void *
case_narrow_before_wide_wrapper(int fd, const struct vfio_region_info *reg)
{
	// ruleid: VFIO003
	uint32_t off = reg->offset;

	return pci_vfio_map_window(fd, off, reg->size);
}

static off_t
case_offset_shift(int bar)
{
	// ruleid: VFIO003
	return (off_t)bar << VFIO_PCI_OFFSET_SHIFT;
}

static uint64_t
case_shift_by_40(unsigned int bar_idx)
{
	// ruleid: VFIO003
	return (uint64_t)bar_idx << 40;
}

// ruleid: VFIO003
#define PCI_VFIO_REGION_ADDR(idx) ((uint64_t)(idx) << 40)

static uint32_t
case_region_out_of_sight(struct rte_pci_device *dev, int i)
{
	/*
	 * dev's struct and its regions[] array are declared in a header. dev itself is
	 * declared, so the region is not guessed from the field's name: the same shape in
	 * libvfio-user (sg->region->offset, a DMA region) is not a vfio_region_info.
	 */
	// todoruleid: VFIO003
	uint32_t base = dev->regions[i].offset;

	return base;
}

static void
case_memory_region_size_u32(struct vfio_port_region *region)
{
	if (!region->is_ioport) {
		/* a memory BAR can be larger than 4 GiB */
		// ruleid: VFIO003
		region->mmio_len = region->info.size;
	}
}

static void
case_io_region_offset_u16(struct vfio_port_region *region)
{
	if (region->is_ioport) {
		/* an I/O region's offset still carries the region index */
		// ruleid: VFIO003
		region->port_base = region->info.offset;
	}
}

/* ---- must not fire ------------------------------------------------------------------- */

static void
case_ok_io_region_size_u16(struct vfio_port_region *region)
{
	if (region->is_ioport) {
		/* an I/O BAR is at most 256 bytes */
		// ok: VFIO003
		region->port_len = region->info.size;
	} else {
		// ruleid: VFIO003
		region->mmio_len = region->info.size;
	}
}

static void
case_ok_io_bar_flag(struct vfio_port_region *region, uint32_t bar)
{
	if (!(bar & PCI_BASE_ADDRESS_SPACE_IO))
		return;
	// ok: VFIO003
	region->port_len = region->info.size;
}

static void
case_ok_u64_local(int fd)
{
	struct vfio_region_info reg = { .argsz = sizeof(reg), .index = 2 };

	ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &reg);
	// ok: VFIO003
	uint64_t offset = reg.offset;
	// ok: VFIO003
	size_t size = reg.size;
	(void)offset;
	(void)size;
}

static void
case_ok_wide_types(const struct vfio_region_info *info)
{
	// ok: VFIO003
	off_t fd_offset = info->offset;
	// ok: VFIO003
	__u64 raw = info->offset;
	// ok: VFIO003
	pci_iova_off_t typed = info->offset;

	(void)fd_offset;
	(void)raw;
	(void)typed;
}

static void
case_ok_struct_wide(struct pci_vfio_bar_wide *bar,
		    const struct vfio_region_info *region_info)
{
	// ok: VFIO003
	bar->bar_offset = region_info->offset;
	// ok: VFIO003
	bar->bar_size = region_info->size;
}

static void
case_ok_write_to_info(struct vfio_region_info *info, uint32_t index)
{
	// ok: VFIO003
	info->offset = (uint64_t)index << 20;
	// ok: VFIO003
	info->size = 0;
}

static int
case_ok_compare(const struct vfio_region_info *reg, uint32_t table_end)
{
	// ok: VFIO003
	if (reg->size < table_end)
		return -1;
	// ok: VFIO003
	int empty = reg->size == 0;

	return empty;
}

static uint64_t
case_ok_return_u64(const struct vfio_region_info *reg)
{
	// ok: VFIO003
	return reg->offset;
}

static int
pci_vfio_read_at64(int fd, void *buf, size_t len, uint64_t where)
{
	return pread(fd, buf, len, where) == (ssize_t)len ? 0 : -1;
}

static int
case_ok_wide_parameter(int fd, void *buf, size_t len,
		       const struct vfio_region_info *rom)
{
	// ok: VFIO003
	return pci_vfio_read_at64(fd, buf, len, rom->offset);
}

static void
case_ok_other_fields(const struct vfio_region_info *info,
		     struct pci_vfio_bar_narrow *bar, uint32_t table_end)
{
	// ok: VFIO003
	uint32_t flags = info->flags;
	// ok: VFIO003
	int width = sizeof(info->offset);
	// ok: VFIO003
	bar->bar_offset = table_end;

	(void)flags;
	(void)width;
}

static uint32_t
case_ok_msix_offset(const struct pci_msix_cap *msix)
{
	/* an MSI-X table offset within its BAR is 32 bits by definition */
	// ok: VFIO003
	uint32_t table_offset = msix->offset;

	return table_offset;
}

static void
case_ok_cast_wide(const struct vfio_region_info *info, char *buf, size_t len)
{
	// ok: VFIO003
	snprintf(buf, len, "offset 0x%llx", (unsigned long long)info->offset);
}

/* Narrowing casts that only reach a message: what is printed is truncated, nothing else. */
static void
case_ok_log_only(const struct vfio_region_info *info, char *buf, size_t len)
{
	// ok: VFIO003
	snprintf(buf, len, "offset 0x%x", (uint32_t)info->offset);
	// ok: VFIO003
	RTE_LOG(DEBUG, EAL, "region size 0x%x\n", (unsigned)info->size);
	// ok: VFIO003
	SPDK_ERRLOG("bad region at 0x%x\n", (uint32_t)info->offset);
	// ok: VFIO003
	trace_vfio_region_setup(info->index, (unsigned long)info->offset, (unsigned)info->size);
	// ok: VFIO003
	pr_debug("vfio: region %u size %u\n", info->index, (u32)info->size);
}

static void
case_ok_log_local(const struct vfio_region_info *info)
{
	/* a narrowed copy that is only printed */
	// ok: VFIO003
	unsigned int shown = info->size;

	printf("size %u\n", shown);
}

static void *
case_ok_wide_through_member(int fd, struct pci_map_wide *map)
{
	// ok: VFIO003
	uint64_t offset = map->offset;

	return mmap(NULL, map->size, PROT_READ, MAP_SHARED, fd, offset);
}

static int
case_ok_decode_index(uint64_t base)
{
	/* recovering the index from an offset for a log message is not reported */
	// ok: VFIO003
	return base >> VFIO_PCI_OFFSET_SHIFT;
}

/* a DMA window limit, not a region offset */
// ok: VFIO003
#define PCI_VFIO_IOVA_LIMIT (1ULL << 40)
