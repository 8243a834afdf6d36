// path: drivers/vdpa/demo/demo_vdpa.c
// DPDK vDPA style: one eventfd per vring reported by vhost, in a buffer for MAXQ * 2 + 1.

#define DEMO_MAXQ 8
#define DEMO_IRQ_SET_BUF_LEN (sizeof(struct vfio_irq_set) + \
		sizeof(int) * (DEMO_MAXQ * 2 + 1))

static int
demo_enable_intr(struct demo_internal *internal)
{
	char irq_set_buf[DEMO_IRQ_SET_BUF_LEN];
	struct vfio_irq_set *irq_set;
	struct rte_vhost_vring vring;
	uint32_t i, nr_vring;
	int *fd_ptr;

	nr_vring = rte_vhost_get_vring_num(internal->vid);
	irq_set = (struct vfio_irq_set *)irq_set_buf;
	irq_set->argsz = sizeof(irq_set_buf);
	// ruleid: VFIO011
	irq_set->count = nr_vring + 1;
	irq_set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	irq_set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	irq_set->start = 0;
	fd_ptr = (int *)&irq_set->data;
	fd_ptr[0] = rte_intr_fd_get(internal->pdev->intr_handle);
	for (i = 0; i < nr_vring; i++) {
		rte_vhost_get_vhost_vring(internal->vid, i, &vring);
		fd_ptr[1 + i] = vring.callfd;
	}
	return ioctl(internal->vfio_dev_fd, VFIO_DEVICE_SET_IRQS, irq_set);
}

static int
demo_enable_intr_checked(struct demo_internal *internal)
{
	char irq_set_buf[DEMO_IRQ_SET_BUF_LEN];
	struct vfio_irq_set *irq_set;
	uint32_t i, nr_vring;
	int *fd_ptr;

	nr_vring = rte_vhost_get_vring_num(internal->vid);
	if (nr_vring > DEMO_MAXQ * 2)
		return -1;
	irq_set = (struct vfio_irq_set *)irq_set_buf;
	irq_set->argsz = sizeof(irq_set_buf);
	// ok: VFIO011
	irq_set->count = nr_vring + 1;
	irq_set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	fd_ptr = (int *)&irq_set->data;
	// ok: VFIO011
	for (i = 0; i < nr_vring; i++)
		fd_ptr[1 + i] = internal->callfd[i];
	return ioctl(internal->vfio_dev_fd, VFIO_DEVICE_SET_IRQS, irq_set);
}

static int
demo_disable_intr(struct demo_internal *internal)
{
	char irq_set_buf[DEMO_IRQ_SET_BUF_LEN];
	struct vfio_irq_set *irq_set;

	irq_set = (struct vfio_irq_set *)irq_set_buf;
	irq_set->argsz = sizeof(irq_set_buf);
	// ok: VFIO011
	irq_set->count = 0;
	irq_set->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	return ioctl(internal->vfio_dev_fd, VFIO_DEVICE_SET_IRQS, irq_set);
}

// path: drivers/common/demo/demo_platform.c
// DPDK common style: the count is the handle's max_intr (read from VFIO_DEVICE_GET_IRQ_INFO).

#define DEMO_MAX_VEC 1024
#define MSIX_IRQ_SET_BUF_LEN (sizeof(struct vfio_irq_set) + sizeof(int) * DEMO_MAX_VEC)

static int
demo_irq_init(struct plt_intr_handle *intr_handle)
{
	char irq_set_buf[MSIX_IRQ_SET_BUF_LEN];
	struct vfio_irq_set *irq_set;
	int32_t *fd_ptr;
	uint32_t i;

	irq_set = (struct vfio_irq_set *)irq_set_buf;
	irq_set->argsz = sizeof(struct vfio_irq_set) +
			 sizeof(int32_t) * plt_intr_max_intr_get(intr_handle);
	irq_set->start = 0;
	// ruleid: VFIO011
	irq_set->count = plt_intr_max_intr_get(intr_handle);
	irq_set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	fd_ptr = (int32_t *)&irq_set->data[0];
	// ok: VFIO011
	for (i = 0; i < irq_set->count; i++)
		fd_ptr[i] = -1;
	return ioctl(plt_intr_dev_fd_get(intr_handle), VFIO_DEVICE_SET_IRQS, irq_set);
}

/* The count clamped to the buffer, but the eventfds copied unclamped. */
static int
demo_msix_block(int vfio_dev_fd, unsigned int start, unsigned int count, int *fds)
{
	char irq_set_buf[MSIX_IRQ_SET_BUF_LEN];
	struct vfio_irq_set *irq_set;
	int *fd_ptr;

	irq_set = (struct vfio_irq_set *)irq_set_buf;
	irq_set->argsz = sizeof(irq_set_buf);
	// ok: VFIO011
	irq_set->count = count > DEMO_MAX_VEC ? DEMO_MAX_VEC : count;
	irq_set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	irq_set->start = start;
	fd_ptr = (int *)&irq_set->data;
	// ruleid: VFIO011
	memcpy(fd_ptr, fds, sizeof(int) * count);
	return ioctl(vfio_dev_fd, VFIO_DEVICE_SET_IRQS, irq_set);
}

/* A VLA sized from the count: no fixed capacity to overflow. */
static int
demo_irq_init_vla(struct plt_intr_handle *intr_handle)
{
	char irq_set_buf[sizeof(struct vfio_irq_set) +
			 sizeof(int) * plt_intr_max_intr_get(intr_handle)];
	struct vfio_irq_set *irq_set = (struct vfio_irq_set *)irq_set_buf;

	// ok: VFIO011
	irq_set->count = plt_intr_max_intr_get(intr_handle);
	irq_set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	return ioctl(plt_intr_dev_fd_get(intr_handle), VFIO_DEVICE_SET_IRQS, irq_set);
}

// path: lib/eal/linux/demo_interrupts.c
// DPDK EAL style: the count clamped with a ternary, the fds bounded by the EAL's own cap.

#define MSIX_BUF_LEN (sizeof(struct vfio_irq_set) + \
		      sizeof(int) * (RTE_MAX_RXTX_INTR_VEC_ID + 1))

static int
demo_enable_msix(const struct rte_intr_handle *intr_handle)
{
	char irq_set_buf[MSIX_BUF_LEN];
	struct vfio_irq_set *irq_set;
	int *fd_ptr, i;

	irq_set = (struct vfio_irq_set *)irq_set_buf;
	irq_set->argsz = sizeof(irq_set_buf);
	// ok: VFIO011
	irq_set->count = rte_intr_max_intr_get(intr_handle) ?
		(rte_intr_max_intr_get(intr_handle) > RTE_MAX_RXTX_INTR_VEC_ID + 1 ?
		 RTE_MAX_RXTX_INTR_VEC_ID + 1 : rte_intr_max_intr_get(intr_handle)) : 1;
	irq_set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	fd_ptr = (int *)&irq_set->data;
	fd_ptr[0] = rte_intr_fd_get(intr_handle);
	// ok: VFIO011
	for (i = 0; i < rte_intr_nb_efd_get(intr_handle); i++)
		fd_ptr[1 + i] = rte_intr_efds_index_get(intr_handle, i);
	return ioctl(rte_intr_dev_fd_get(intr_handle), VFIO_DEVICE_SET_IRQS, irq_set);
}

/* The count clamped, but the loop filling the eventfds is not. */
static int
demo_enable_msix_loop(const struct rte_intr_handle *intr_handle, int nb)
{
	char irq_set_buf[MSIX_BUF_LEN];
	struct vfio_irq_set *irq_set;
	int *fd_ptr, i;

	irq_set = (struct vfio_irq_set *)irq_set_buf;
	// ok: VFIO011
	irq_set->count = RTE_MIN(nb, RTE_MAX_RXTX_INTR_VEC_ID + 1);
	irq_set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	fd_ptr = (int *)&irq_set->data;
	// ruleid: VFIO011
	for (i = 0; i < nb; i++)
		fd_ptr[i] = rte_intr_efds_index_get(intr_handle, i);
	return ioctl(rte_intr_dev_fd_get(intr_handle), VFIO_DEVICE_SET_IRQS, irq_set);
}

/* A helper whose every caller passes a constant. */
static int
demo_set_one(int dev_fd, int index, int count, int fd)
{
	char buf[sizeof(struct vfio_irq_set) + sizeof(int)];
	struct vfio_irq_set *irq_set = (struct vfio_irq_set *)buf;

	// ok: VFIO011
	irq_set->count = count;
	irq_set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	irq_set->index = index;
	memcpy(&irq_set->data, &fd, sizeof(fd));
	return ioctl(dev_fd, VFIO_DEVICE_SET_IRQS, irq_set);
}

static int
demo_enable_intx(int dev_fd, int fd)
{
	return demo_set_one(dev_fd, VFIO_PCI_INTX_IRQ_INDEX, 1, fd);
}

// path: vfio/pci.c
// kvmtool style: a union keeps one eventfd after the header.

union demo_irq_eventfd {
	struct vfio_irq_set	irq;
	u8 buffer[sizeof(struct vfio_irq_set) + sizeof(int)];
};

static int demo_enable_intx_kvmtool(struct vfio_device *vdev, int trigger_fd)
{
	union demo_irq_eventfd trigger;

	trigger.irq = (struct vfio_irq_set) {
		.argsz	= sizeof(trigger),
		.flags	= VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index	= VFIO_PCI_INTX_IRQ_INDEX,
		.start	= 0,
		// ok: VFIO011
		.count	= 1,
	};
	memcpy(&trigger.irq.data, &trigger_fd, sizeof(trigger_fd));
	return ioctl(vdev->fd, VFIO_DEVICE_SET_IRQS, &trigger);
}

static int demo_enable_msis_kvmtool(struct vfio_device *vdev, struct vfio_pci_msi_common *msis)
{
	union demo_irq_eventfd set;

	set.irq = (struct vfio_irq_set) {
		.argsz	= sizeof(set),
		.flags	= VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index	= msis->info.index,
		.start	= 0,
		// ruleid: VFIO011
		.count	= msis->nr_entries,
	};
	return ioctl(vdev->fd, VFIO_DEVICE_SET_IRQS, &set);
}

// path: hw/vfio/pci.c
// QEMU style: the heap buffer is sized from the count; a stack copy of it is not.

static int vfio_enable_vectors_heap(VFIOPCIDevice *vdev, bool msix)
{
    struct vfio_irq_set *irq_set;
    int ret = 0, i, argsz;
    int32_t *fds;

    argsz = sizeof(*irq_set) + (vdev->nr_vectors * sizeof(*fds));
    irq_set = g_malloc0(argsz);
    irq_set->argsz = argsz;
    irq_set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    irq_set->index = msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX;
    // ok: VFIO011
    irq_set->count = vdev->nr_vectors;
    fds = (int32_t *)&irq_set->data;
    for (i = 0; i < vdev->nr_vectors; i++) {
        fds[i] = -1;
    }
    ret = ioctl(vdev->vbasedev.fd, VFIO_DEVICE_SET_IRQS, irq_set);
    g_free(irq_set);
    return ret;
}

#define VFIO_STACK_VECTORS 64

static int vfio_enable_vectors_stack(VFIOPCIDevice *vdev, bool msix)
{
    char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t) * VFIO_STACK_VECTORS];
    struct vfio_irq_set *irq_set = (struct vfio_irq_set *)buf;
    int32_t *fds = (int32_t *)&irq_set->data;
    int i;

    irq_set->argsz = sizeof(buf);
    irq_set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    irq_set->index = msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX;
    // ruleid: VFIO011
    irq_set->count = vdev->nr_vectors;
    for (i = 0; i < vdev->nr_vectors; i++) {
        fds[i] = event_notifier_get_fd(&vdev->msi_vectors[i].interrupt);
    }
    return ioctl(vdev->vbasedev.fd, VFIO_DEVICE_SET_IRQS, irq_set);
}
