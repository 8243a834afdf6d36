// SPDX-License-Identifier: GPL-2.0-only
/*
 * Annotated cases for VFIO004 (dmabuf-unmappable-bar): DMABUF and P2P export of BARs in
 * vfio-pci, with and without the bar_mmap_supported[] / non_mappable_bars checks of mmap.
 */
// path: drivers/vfio/pci/vfio_pci_dmabuf.c

#include <linux/dma-buf-mapping.h>
#include <linux/pci-p2pdma.h>
#include <linux/vfio_pci_core.h>

#include "vfio_pci_priv.h"

/* ---- must fire ---------------------------------------------------------------------- */

int case_provider_and_fill(struct vfio_pci_core_device *vdev,
			   struct p2pdma_provider **provider,
			   unsigned int region_index, struct phys_vec *phys_vec,
			   struct vfio_region_dma_range *dma_ranges,
			   size_t nr_ranges)
{
	struct pci_dev *pdev = vdev->pdev;

	// ruleid: VFIO004
	*provider = pcim_p2pdma_provider(pdev, region_index);
	if (!*provider)
		return -EINVAL;

	/* one finding per function: the second export is not reported again */
	// ok: VFIO004
	return vfio_pci_core_fill_phys_vec(phys_vec, dma_ranges, nr_ranges,
					   pci_resource_start(pdev, region_index),
					   pci_resource_len(pdev, region_index));
}

int case_fill_only(struct vfio_pci_core_device *vdev, unsigned int bar,
		   struct phys_vec *phys_vec,
		   struct vfio_region_dma_range *dma_ranges, size_t nr_ranges)
{
	struct pci_dev *pdev = vdev->pdev;

	if (!(pci_resource_flags(pdev, bar) & IORESOURCE_MEM))
		return -EINVAL;
	if (pci_resource_len(pdev, bar) < PAGE_SIZE)
		return -EINVAL;

	// ruleid: VFIO004
	return vfio_pci_core_fill_phys_vec(phys_vec, dma_ranges, nr_ranges,
					   pci_resource_start(pdev, bar),
					   pci_resource_len(pdev, bar));
}

int case_add_resource(struct vfio_pci_core_device *vdev)
{
	struct pci_dev *pdev = vdev->pdev;
	int bar, ret;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		if (!pci_resource_len(pdev, bar))
			continue;
		// ruleid: VFIO004
		ret = pci_p2pdma_add_resource(pdev, bar,
					      pci_resource_len(pdev, bar), 0);
		if (ret)
			return ret;
	}
	return 0;
}

int case_check_in_comment_only(struct vfio_pci_core_device *vdev,
			       struct p2pdma_provider **provider,
			       unsigned int region_index)
{
	/* XXX: should test bar_mmap_supported[] and non_mappable_bars here */
	// ruleid: VFIO004
	*provider = pcim_p2pdma_provider(vdev->pdev, region_index);
	return *provider ? 0 : -EINVAL;
}

static int case_unchecked_helper(struct pci_dev *pdev, unsigned int bar,
				 struct phys_vec *phys_vec,
				 struct vfio_region_dma_range *dma_ranges,
				 size_t nr_ranges)
{
	// ruleid: VFIO004
	return vfio_pci_core_fill_phys_vec(phys_vec, dma_ranges, nr_ranges,
					   pci_resource_start(pdev, bar),
					   pci_resource_len(pdev, bar));
}

int case_unchecked_caller(struct vfio_pci_core_device *vdev,
			  unsigned int bar, struct phys_vec *phys_vec,
			  struct vfio_region_dma_range *dma_ranges,
			  size_t nr_ranges)
{
	if (bar >= VFIO_PCI_ROM_REGION_INDEX)
		return -ENODEV;

	return case_unchecked_helper(vdev->pdev, bar, phys_vec, dma_ranges,
				     nr_ranges);
}

/*
 * The probe decides which BARs mmap() may map, then publishes every memory BAR for
 * P2P without looking at its own decision: the name appears, but as a store.
 */
int case_probe_then_publish_all(struct vfio_pci_core_device *vdev)
{
	struct pci_dev *pdev = vdev->pdev;
	int bar;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		vdev->bar_mmap_supported[bar] =
			!pdev->non_mappable_bars &&
			pci_resource_len(pdev, bar) >= PAGE_SIZE;
		/* non_mappable_bars is read to compute the table, and no test reads it */
		// ruleid: VFIO004
		pci_p2pdma_add_resource(pdev, bar, pci_resource_len(pdev, bar), 0);
	}
	return 0;
}

/* ---- must not fire ------------------------------------------------------------------- */

int case_ok_checked(struct vfio_pci_core_device *vdev,
		    struct p2pdma_provider **provider,
		    unsigned int region_index, struct phys_vec *phys_vec,
		    struct vfio_region_dma_range *dma_ranges, size_t nr_ranges)
{
	struct pci_dev *pdev = vdev->pdev;

	if (!vdev->bar_mmap_supported[region_index])
		return -EINVAL;

	// ok: VFIO004
	*provider = pcim_p2pdma_provider(pdev, region_index);
	if (!*provider)
		return -EINVAL;

	// ok: VFIO004
	return vfio_pci_core_fill_phys_vec(phys_vec, dma_ranges, nr_ranges,
					   pci_resource_start(pdev, region_index),
					   pci_resource_len(pdev, region_index));
}

int case_ok_quirk_flag(struct vfio_pci_core_device *vdev, int bar)
{
	struct pci_dev *pdev = vdev->pdev;

	if (pdev->non_mappable_bars)
		return -EINVAL;

	// ok: VFIO004
	return pci_p2pdma_add_resource(pdev, bar, pci_resource_len(pdev, bar), 0);
}

static bool case_ok_exportable(struct vfio_pci_core_device *vdev,
			       unsigned int bar)
{
	return !vdev->pdev->non_mappable_bars && vdev->bar_mmap_supported[bar];
}

int case_ok_helper_checks(struct vfio_pci_core_device *vdev,
			  struct p2pdma_provider **provider, unsigned int bar)
{
	if (!case_ok_exportable(vdev, bar))
		return -EINVAL;

	// ok: VFIO004
	*provider = pcim_p2pdma_provider(vdev->pdev, bar);
	return *provider ? 0 : -EINVAL;
}

static int case_ok_fill_for_caller(struct pci_dev *pdev, unsigned int bar,
				   struct phys_vec *phys_vec,
				   struct vfio_region_dma_range *dma_ranges,
				   size_t nr_ranges)
{
	// ok: VFIO004
	return vfio_pci_core_fill_phys_vec(phys_vec, dma_ranges, nr_ranges,
					   pci_resource_start(pdev, bar),
					   pci_resource_len(pdev, bar));
}

int case_ok_caller_checks(struct vfio_pci_core_device *vdev, unsigned int bar,
			  struct phys_vec *phys_vec,
			  struct vfio_region_dma_range *dma_ranges,
			  size_t nr_ranges)
{
	if (!vdev->bar_mmap_supported[bar])
		return -EINVAL;

	return case_ok_fill_for_caller(vdev->pdev, bar, phys_vec, dma_ranges,
				       nr_ranges);
}

static int case_ok_provider_two_down(struct pci_dev *pdev, unsigned int bar,
				     struct p2pdma_provider **provider)
{
	// ok: VFIO004
	*provider = pcim_p2pdma_provider(pdev, bar);
	return *provider ? 0 : -EINVAL;
}

static int case_ok_provider_one_down(struct pci_dev *pdev, unsigned int bar,
				     struct p2pdma_provider **provider)
{
	return case_ok_provider_two_down(pdev, bar, provider);
}

int case_ok_grandcaller_checks(struct vfio_pci_core_device *vdev,
			       unsigned int bar,
			       struct p2pdma_provider **provider)
{
	if (!vdev->bar_mmap_supported[bar])
		return -EINVAL;

	return case_ok_provider_one_down(vdev->pdev, bar, provider);
}

int case_ok_mmap_helper(struct vfio_pci_core_device *vdev, unsigned int bar,
			struct phys_vec *phys_vec,
			struct vfio_region_dma_range *dma_ranges, size_t nr_ranges)
{
	if (!vfio_pci_bar_mmap_supported(vdev, bar))
		return -EINVAL;

	// ok: VFIO004
	return vfio_pci_core_fill_phys_vec(phys_vec, dma_ranges, nr_ranges,
					   pci_resource_start(vdev->pdev, bar),
					   pci_resource_len(vdev->pdev, bar));
}

/* ---- the exporter helper itself ------------------------------------------------------- */
// path: drivers/pci/p2pdma.c

/* The provider refuses I/O BARs but not BARs a quirk marked unmappable. */
struct p2pdma_provider *pcim_p2pdma_provider(struct pci_dev *pdev, int bar)
{
	struct pci_p2pdma *p2p;

	// ruleid: VFIO004
	if (!(pci_resource_flags(pdev, bar) & IORESOURCE_MEM))
		return NULL;

	p2p = rcu_dereference_protected(pdev->p2pdma, 1);
	if (WARN_ON(!p2p))
		return NULL;
	return &p2p->mem[bar];
}

/* The same provider once it honours the quirk flag. */
struct p2pdma_provider *p2pdma_provider_init(struct pci_dev *pdev, int bar)
{
	struct pci_p2pdma *p2p;

	// ok: VFIO004
	if (!(pci_resource_flags(pdev, bar) & IORESOURCE_MEM) || pdev->non_mappable_bars)
		return NULL;

	p2p = rcu_dereference_protected(pdev->p2pdma, 1);
	return p2p ? &p2p->mem[bar] : NULL;
}
