// path: drivers/net/virtio/virtio_pci.c
// DPDK style: rte_pci_read_config() returns the bytes transferred (a pread on the VFIO
// device fd under vfio-pci), or a negative error.

static int
caps_scan(struct rte_pci_device *pdev, struct vpci_hw *hw)
{
	struct vpci_cap cap;
	uint8_t pos;
	int ret;

	// ok: VFIO013
	ret = rte_pci_read_config(pdev, &pos, sizeof(pos), PCI_CAPABILITY_LIST);
	if (ret < 0)
		return -1;

	while (pos) {
		// ruleid: VFIO013
		ret = rte_pci_read_config(pdev, &cap, sizeof(cap), pos);
		if (ret < 0)
			break;
		if (cap.cfg_type == VPCI_NOTIFY_CFG) {
			// ok: VFIO013
			ret = rte_pci_read_config(pdev, &hw->mult, 4, pos + sizeof(cap));
			if (ret != 4)
				return -1;
		}
		pos = cap.cap_next;
	}
	return 0;
}

static void
notify_setup(struct rte_pci_device *pdev, struct vpci_hw *hw, int pos)
{
	// ruleid: VFIO013
	rte_pci_read_config(pdev, &hw->mult, 4, pos);
	hw->notify = hw->base + hw->mult;
}

static int
bus_master(struct rte_pci_device *pdev)
{
	uint16_t cmd;

	// ruleid: VFIO013
	if (rte_pci_read_config(pdev, &cmd, sizeof(cmd), PCI_COMMAND) < 0)
		return -1;
	cmd |= PCI_COMMAND_MASTER;
	// ruleid: VFIO013
	(void)rte_pci_write_config(pdev, &cmd, sizeof(cmd), PCI_COMMAND);
	return 0;
}

static int
msix_flags(struct rte_pci_device *pdev, int pos)
{
	uint16_t flags;

	// ok: VFIO013
	if (pos > 0 && rte_pci_read_config(pdev, &flags, sizeof(flags), pos + 2) == sizeof(flags))
		return flags & PCI_MSIX_ENABLE;
	return 0;
}

// path: drivers/bus/pci/linux/pci_vfio.c
// DPDK bus: raw pread/pwrite on the device fd.

static void
ioport_rd(struct rte_pci_ioport *p, void *data, size_t len, off_t off)
{
	int vfio_dev_fd = rte_intr_dev_fd_get(p->dev->intr_handle);

	// ruleid: VFIO013
	if (pread(vfio_dev_fd, data, len, p->base + off) <= 0)
		PCI_LOG(ERR, "cannot read");
}

static int
enable_memory(int dev_fd, off_t cfg)
{
	uint16_t cmd;
	int ret;

	// ok: VFIO013
	ret = pread(dev_fd, &cmd, sizeof(cmd), cfg + PCI_COMMAND);
	if (ret != sizeof(cmd))
		return -1;
	cmd |= PCI_COMMAND_MEMORY;
	// ok: VFIO013
	ret = pwrite(dev_fd, &cmd, sizeof(cmd), cfg + PCI_COMMAND);
	if (ret != sizeof(cmd))
		return -1;
	return 0;
}

static int
sysfs_attr(int attr_fd, char *buf, size_t len)
{
	// ok: VFIO013
	if (pread(attr_fd, buf, len, 0) < 0)
		return -1;
	return 0;
}

// path: hw/vfio/pci.c
// QEMU style: a helper returns the count to callers that compare it with the size.

static int cfg_read(VFIOPCIDevice *vdev, off_t offset, uint32_t size, void *data)
{
    ssize_t ret;

    // ok: VFIO013
    ret = pread(vdev->vbasedev.fd, data, size, vdev->config_offset + offset);
    return ret < 0 ? -errno : (int)ret;
}

static bool msi_probe(VFIOPCIDevice *vdev, int pos, Error **errp)
{
    uint16_t ctrl;
    int ret;

    ret = cfg_read(vdev, pos + PCI_CAP_FLAGS, sizeof(ctrl), &ctrl);
    if (ret != sizeof(ctrl)) {
        error_setg(errp, "failed reading MSI PCI_CAP_FLAGS");
        return false;
    }
    return true;
}

static int bar_probe(VFIOPCIDevice *vdev, int nr)
{
    uint32_t bar;
    int ret;

    // ruleid: VFIO013
    ret = vfio_pci_config_space_read(vdev, PCI_BASE_ADDRESS_0 + (4 * nr), 4, &bar);
    if (ret < 0) {
        return ret;
    }
    return le32_to_cpu(bar) & PCI_BASE_ADDRESS_SPACE_IO;
}

/* One ret for two reads: the second read's length test says nothing of the first. */
static int vga_probe(VFIOPCIDevice *vdev, uint32_t *id)
{
    int ret;

    // ruleid: VFIO013
    ret = vfio_pci_config_space_read(vdev, PCI_VENDOR_ID, 4, id);
    if (ret < 0) {
        return ret;
    }
    // ok: VFIO013
    ret = vfio_pci_config_space_read(vdev, PCI_CLASS_REVISION, 4, id + 1);
    if (ret != 4) {
        return -EIO;
    }
    return 0;
}

/* A transport reached through a table of operations: its callers, elsewhere, get the count. */
static int io_region_read(VFIODevice *vbasedev, uint8_t index, off_t off, uint32_t size,
                          void *data)
{
    int ret;

    // ok: VFIO013
    ret = pread(vbasedev->fd, data, size, vbasedev->region_offset + off);
    return ret < 0 ? -errno : ret;
}

static int io_region_write(VFIODevice *vbasedev, uint8_t index, off_t off, uint32_t size,
                           void *data)
{
    int ret;

    // ok: VFIO013
    ret = pwrite(vbasedev->fd, data, size, vbasedev->region_offset + off);
    return ret >= 0 ? ret : -errno;
}

/* The count goes back only when it is an error: the caller cannot tell a short read. */
static int io_region_read_error(VFIODevice *vbasedev, off_t off, uint32_t size, void *data)
{
    int ret;

    // ruleid: VFIO013
    ret = pread(vbasedev->fd, data, size, vbasedev->region_offset + off);
    return ret < 0 ? ret : 0;
}

static VFIODeviceIOOps io_ops = {
    .region_read = io_region_read,
    .region_write = io_region_write,
    .region_read_error = io_region_read_error,
};

// path: vfio/core.c
// kvmtool style: the count compared with the length, through a cast.

static void vfio_mmio_access(struct vfio_device *vdev, struct vfio_region *region,
			     u32 offset, u8 *data, u32 len)
{
	ssize_t nr;
	u32 val;

	// ok: VFIO013
	nr = pread(vdev->fd, &val, len, region->info.offset + offset);
	if ((u32)nr != len)
		return;
	memcpy(data, &val, len);
}

static void vfio_cfg_poke(struct vfio_device *vdev, u32 offset, u32 len)
{
	u32 val = 0;

	// ruleid: VFIO013
	pwrite(vdev->fd, &val, len, offset);
}

// path: lib/libvfio-user.c
// A loop that consumes a short count is the right answer to one.

static int dma_rw(int cmd, dma_sg_t *sg, char *data, size_t length, off_t offset,
                  int device)
{
    while (length > 0) {
        ssize_t ret;
        // ok: VFIO013
        ret = pread(device, data, length, offset);
        if (ret <= 0) {
            return -1;
        }
        data += ret;
        offset += ret;
        length -= ret;
    }
    return 0;
}
