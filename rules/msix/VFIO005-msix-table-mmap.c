// Annotated cases for VFIO005 msix-table-mmap: an MSI-X table guard switched off by a
// platform, module or device switch, or a device-wide flag deciding to map the table.
// path: drivers/vfio/pci/vfio_pci.c

#include <linux/module.h>
#include <linux/pci.h>
#include <linux/vfio.h>

#include "vfio_pci_private.h"

static bool allow_msix_mmap;
module_param(allow_msix_mmap, bool, 0444);

/* Kconfig switch joined to the MSI-X BAR test */
static int case_kconfig_switch(struct vfio_pci_device *vdev, unsigned int index,
			       u64 req_start, u64 req_len)
{
	// ruleid: VFIO005
	if (index == vdev->msix_bar && !IS_ENABLED(CONFIG_VFIO_PCI_MMAP_MSIX)) {
		if (!(req_start >= vdev->msix_offset + vdev->msix_size ||
		      req_start + req_len <= vdev->msix_offset))
			return -EINVAL;
	}
	return 0;
}

/* Module parameter */
static int case_module_param(struct vfio_pci_device *vdev, unsigned int index,
			     u64 req_start, u64 req_len)
{
	// ruleid: VFIO005
	if (index == vdev->msix_bar && !allow_msix_mmap) {
		if (!(req_start >= vdev->msix_offset + vdev->msix_size ||
		      req_start + req_len <= vdev->msix_offset))
			return -EINVAL;
	}
	return 0;
}

/* Device field set once at enable time */
static int case_device_field(struct vfio_pci_device *vdev, unsigned int index,
			     u64 req_start, u64 req_len)
{
	// ruleid: VFIO005
	if (index == vdev->msix_bar && !vdev->msix_mmap_ok) {
		if (!(req_start >= vdev->msix_offset + vdev->msix_size ||
		      req_start + req_len <= vdev->msix_offset))
			return -EINVAL;
	}
	return 0;
}

/* Helper call, the shape of the 2015 EEH RFC */
static int case_helper_call(struct vfio_pci_device *vdev, unsigned int index,
			    u64 req_start, u64 req_len)
{
	// ruleid: VFIO005
	if (index == vdev->msix_bar && !vfio_msix_table_mmap_enabled()) {
		if (!(req_start >= vdev->msix_offset + vdev->msix_size ||
		      req_start + req_len <= vdev->msix_offset))
			return -EINVAL;
	}
	return 0;
}

/* Switch first, guard spread over two lines, local BIR variable */
static int case_switch_first_bir(struct vfio_pci_device *vdev, int bar,
				 loff_t pos, size_t count)
{
	u8 msix_bir = vdev->msix_bar;

	// ruleid: VFIO005
	if (!iommu_capable(vdev->pdev->dev.bus, IOMMU_CAP_INTR_REMAP) &&
	    bar == msix_bir) {
		if (pos < vdev->msix_offset + vdev->msix_size &&
		    pos + count > vdev->msix_offset)
			return -EINVAL;
	}
	return 0;
}

/* User space (DPDK style): device-wide flag decides to map the table */
static int case_user_device_flag(struct vfio_device_info *device_info,
				 struct pci_msix_table *msix_table)
{
	// ruleid: VFIO005
	if (device_info->flags & VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP)
		msix_table->bar_index = -1;
	return 0;
}

/* User space (QEMU style), the flag on the left of the & */
static void case_user_device_flag_left(VFIOPCIDevice *vdev)
{
    // ruleid: VFIO005
    bool whole_bar = VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP & vdev->vbasedev.flags;

    if (whole_bar) {
        return;
    }
    vfio_pci_fixup_msix_region(vdev);
}

/* Parenthesized BAR comparison */
static int case_parenthesized_guard(struct vfio_pci_device *vdev, unsigned int index,
				    u64 req_start, u64 req_len)
{
	// ruleid: VFIO005
	if ((index == vdev->msix_bar) && !allow_msix_mmap) {
		if (!(req_start >= vdev->msix_offset + vdev->msix_size ||
		      req_start + req_len <= vdev->msix_offset))
			return -EINVAL;
	}
	return 0;
}

/* De Morgan form: skip the overlap check unless MSI-X BAR and not allowed */
static int case_or_early_out(struct vfio_pci_device *vdev, unsigned int index,
			     u64 req_start, u64 req_len)
{
	// ruleid: VFIO005
	if (index != vdev->msix_bar || allow_msix_mmap)
		return 0;

	if (!(req_start >= vdev->msix_offset + vdev->msix_size ||
	      req_start + req_len <= vdev->msix_offset))
		return -EINVAL;
	return 0;
}

/* Switch nested inside the guard */
static int case_nested_switch(struct vfio_pci_device *vdev, unsigned int index,
			      u64 req_start, u64 req_len)
{
	if (index == vdev->msix_bar) {
		// todoruleid: VFIO005
		if (!allow_msix_mmap &&
		    !(req_start >= vdev->msix_offset + vdev->msix_size ||
		      req_start + req_len <= vdev->msix_offset))
			return -EINVAL;
	}
	return 0;
}

/* QEMU: the MSI-X table BAR lives in vdev->msix->table_bar */
static bool case_qemu_table_bar(VFIOPCIDevice *vdev, int nr)
{
    // ruleid: VFIO005
    if (vdev->msix && nr == vdev->msix->table_bar && !vdev->msix_mmap_allowed) {
        return true;
    }
    return false;
}

/* kvmtool: the MSI-X table BAR lives in pdev->msix_table.bar */
static int case_kvmtool_table_bar(struct vfio_pci_device *pdev, size_t nr,
				  struct vfio_region *region)
{
	// ruleid: VFIO005
	if (nr == pdev->msix_table.bar && !pdev->msix_mmap_allowed) {
		region->guest_phys_addr = pdev->msix_table.guest_phys_addr;
		return 0;
	}
	return 1;
}

/* Guard compiled out by #ifdef: documented as not seen */
static int case_ifdef_guard(struct vfio_pci_device *vdev, unsigned int index,
			    u64 req_start, u64 req_len)
{
#ifndef CONFIG_VFIO_PCI_MMAP_MSIX
	// todoruleid: VFIO005
	if (index == vdev->msix_bar) {
		if (!(req_start >= vdev->msix_offset + vdev->msix_size ||
		      req_start + req_len <= vdev->msix_offset))
			return -EINVAL;
	}
#endif
	return 0;
}

/* The unconditional guard */
static int case_unconditional_guard(struct vfio_pci_device *vdev, unsigned int index,
				    u64 req_start, u64 req_len)
{
	// ok: VFIO005
	if (index == vdev->msix_bar) {
		if (!(req_start >= vdev->msix_offset + vdev->msix_size ||
		      req_start + req_len <= vdev->msix_offset))
			return -EINVAL;
	}
	return 0;
}

/* Guard joined to range comparisons only */
static int case_range_comparisons(struct vfio_pci_device *vdev, unsigned int index,
				  u64 req_start, u64 req_len)
{
	// ok: VFIO005
	if (index == vdev->msix_bar &&
	    req_start < vdev->msix_offset + vdev->msix_size &&
	    req_start + req_len > vdev->msix_offset)
		return -EINVAL;
	return 0;
}

/* Guard joined to a negated range test (ioeventfd path) */
static long case_negated_range(struct vfio_pci_device *vdev, int bar,
			       loff_t pos, int count)
{
	// ok: VFIO005
	if (bar == vdev->msix_bar &&
	    !(pos + count <= vdev->msix_offset ||
	      pos >= vdev->msix_offset + vdev->msix_size))
		return -EINVAL;
	return 0;
}

/* Per-region MSIX_MAPPABLE capability in the region info */
static int case_msix_mappable_cap(struct vfio_pci_device *vdev,
				  struct vfio_region_info *info,
				  struct vfio_info_cap *caps)
{
	int ret;

	info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	// ok: VFIO005
	if (vdev->bar_mmap_supported[info->index] && info->index == vdev->msix_bar) {
		ret = msix_mmappable_cap(vdev, caps);
		if (ret)
			return ret;
	}
	return 0;
}

/* User space honouring the region capability */
static void case_user_region_cap(VFIOPCIDevice *vdev, VFIORegion *region)
{
    // ok: VFIO005
    if (vdev->msix && vfio_has_region_cap(&vdev->vbasedev, region->nr,
                                          VFIO_REGION_INFO_CAP_MSIX_MAPPABLE)) {
        return;
    }
    vfio_pci_fixup_msix_region(vdev);
}

/* User space reading the sparse mmap capability of the MSI-X BAR */
static int case_user_sparse_cap(struct vfio_region_info *info, int bar_index,
				struct pci_msix_table *msix_table)
{
	struct vfio_info_cap_header *hdr;

	hdr = pci_vfio_info_cap(info, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	// ok: VFIO005
	if (hdr != NULL && msix_table->bar_index == bar_index)
		return pci_vfio_sparse_mmap_bar(info, hdr);
	return 0;
}

/* && switches that have nothing to do with MSI-X */
static void case_unrelated_switches(struct vfio_pci_device *vdev)
{
	// ok: VFIO005
	if (vdev->reset_works && !disable_idle_d3)
		pci_set_power_state(vdev->pdev, PCI_D3hot);
	// ok: VFIO005
	if (is_msix(vdev) && !vdev->virq_disabled)
		vfio_msix_unmask_all(vdev);
}

/* The kernel setting the flag is not reported, only its consumers */
static void case_flag_set(struct vfio_device_info *info)
{
	// ok: VFIO005
	info->flags |= VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP;
}

/* A helper that is itself the range test: documented false positive */
static int case_overlap_helper(struct vfio_pci_device *vdev, unsigned int index,
			       u64 req_start, u64 req_len)
{
	// ok: VFIO005
	if (index == vdev->msix_bar && vfio_pci_msix_overlaps(vdev, req_start, req_len))
		return -EINVAL;
	return 0;
}

/* ---- user space: the mapping, not the condition -------------------------------------- */
// path: drivers/bus/pci/linux/pci_vfio.c

struct pci_map {
	void *addr;
	uint64_t offset;
	uint64_t size;
};

struct pci_msix_table {
	int bar_index;
	uint32_t offset;
	uint32_t size;
};

/* Map the whole BAR first and fall back around the table on failure: the kernel was never
 * asked whether the table may be mapped (the shape of DPDK's 2018 retry logic). */
static int
case_whole_bar_first(int fd, struct pci_map *bar, struct pci_msix_table *msix_table,
		     int bar_index, void *bar_addr)
{
	struct {
		unsigned long offset;
		unsigned long size;
	} memreg[2] = {};
	bool again = false;
	void *map_addr;

	memreg[0].offset = bar->offset;
	memreg[0].size = bar->size;
	do {
		if (again) {
			memreg[0].size = msix_table->offset & ~(4096 - 1);
			memreg[1].offset = bar->offset + memreg[0].size + 4096;
			memreg[1].size = bar->size - memreg[0].size - 4096;
		}
		// ruleid: VFIO005
		map_addr = pci_map_resource(bar_addr, fd, memreg[0].offset, memreg[0].size,
					    MAP_FIXED);
		if (map_addr == MAP_FAILED && msix_table->bar_index == bar_index && !again) {
			again = true;
			continue;
		}
		break;
	} while (again);
	return map_addr == MAP_FAILED ? -1 : 0;
}

/* The whole BAR only for a BAR that does not hold the table: mapped around it otherwise. */
static int
case_ok_around_the_table(int fd, struct pci_map *bar, struct pci_msix_table *msix_table,
			 int bar_index, void *bar_addr)
{
	unsigned long size;

	if (msix_table->bar_index == bar_index) {
		size = msix_table->offset & ~(4096 - 1);
	} else {
		size = bar->size;
	}
	// ok: VFIO005
	return pci_map_resource(bar_addr, fd, bar->offset, size, MAP_FIXED) == MAP_FAILED;
}

/* The kernel said the table may be mapped: VFIO_REGION_INFO_CAP_MSIX_MAPPABLE. */
static int
case_ok_msix_mappable(int fd, struct pci_map *bar, struct pci_msix_table *msix_table,
		      int bar_index, void *bar_addr, bool msix_mappable)
{
	unsigned long size = bar->size;

	if (msix_table->bar_index == bar_index && !msix_mappable)
		size = msix_table->offset & ~(4096 - 1);
	// ok: VFIO005
	return pci_map_resource(bar_addr, fd, bar->offset, size, MAP_FIXED) == MAP_FAILED;
}

/* A driver that never looks at the MSI-X table is judged by the kernel's refusal. */
static void *
case_ok_no_msix_anywhere(int fd, struct pci_map *bar)
{
	// ok: VFIO005
	return mmap(NULL, bar->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, bar->offset);
}
