// path: lib/eal/linux/eal_vfio.c
// DPDK EAL style: a group lookup that used 0 for "not found", and its callers.

static int
vfio_open_group(int group_num)
{
	char filename[PATH_MAX];
	int vfio_group_fd;

	snprintf(filename, sizeof(filename), "/dev/vfio/%d", group_num);
	vfio_group_fd = open(filename, O_RDWR);
	if (vfio_group_fd < 0) {
		if (errno != ENOENT)
			return -1;
		return 0;
	}
	return vfio_group_fd;
}

int
vfio_setup(int group_num)
{
	int vfio_group_fd = vfio_open_group(group_num);

	// ruleid: VFIO012
	if (vfio_group_fd <= 0)
		return -1;
	return vfio_group_fd;
}

int
vfio_skip_unmanaged(int group_num)
{
	int vfio_group_fd = vfio_open_group(group_num);

	if (vfio_group_fd < 0)
		return -1;
	// ruleid: VFIO012
	if (vfio_group_fd == 0)
		return 1;
	return 0;
}

int
vfio_setup_fixed(int group_num)
{
	int vfio_group_fd = vfio_open_group(group_num);

	// ok: VFIO012
	if (vfio_group_fd < 0 && vfio_group_fd != -ENOENT)
		return -1;
	// ok: VFIO012
	if (vfio_group_fd == -ENOENT)
		return 1;
	return 0;
}

/* Counts named after descriptors are counts. */
static int
vfio_mp_reply(struct rte_mp_msg *reply)
{
	// ok: VFIO012
	if (reply->num_fds == 0)
		return -1;
	// ok: VFIO012
	if (!reply->nr_fds)
		return -1;
	return reply->fds[0];
}

// path: drivers/bus/fslmc/fslmc_vfio.c
// DPDK fslmc style: a static container whose fd starts as 0.

static struct fslmc_container_state {
	int fd;
	int groups;
} s_container;

static int
fslmc_vfio_container_get(void)
{
	int fd;

	// ruleid: VFIO012
	if (s_container.fd > 0)
		return s_container.fd;
	fd = open("/dev/vfio/vfio", O_RDWR);
	if (fd < 0)
		return -errno;
	s_container.fd = fd;
	return fd;
}

static void
fslmc_vfio_container_put(void)
{
	// ruleid: VFIO012
	if (s_container.fd)
		close(s_container.fd);
	s_container.fd = -1;
}


// path: drivers/net/demo/demo_ethdev.c
// Flags named like descriptors (a flow-director capability, a handler's "accepts fds"
// switch) are never used as descriptors: not reported.

struct demo_handler {
	bool accepts_fd;
	int (*cb)(struct demo_dev *dev, int *fds);
};

static int
demo_caps(struct demo_hw *hw, const struct demo_handler *h)
{
	// ok: VFIO012
	if (hw->func_caps.fd)
		return DEMO_FLOW_DIRECTOR;
	// ok: VFIO012
	if (!h->accepts_fd)
		return -EINVAL;
	return 0;
}

// path: hw/vfio/device.c
// QEMU style: a g_new0() array of region fds, closed where != -1.

void vfio_device_prepare(VFIODevice *vbasedev, struct vfio_device_info *info)
{
    vbasedev->num_regions = info->num_regions;
    vbasedev->region_fds = g_new0(int, vbasedev->num_regions);
}

void vfio_device_unprepare(VFIODevice *vbasedev)
{
    int i;

    for (i = 0; i < vbasedev->num_regions; i++) {
        if (vbasedev->region_fds != NULL && vbasedev->region_fds[i] != -1) {
            // ruleid: VFIO012
            close(vbasedev->region_fds[i]);
        }
    }
    g_free(vbasedev->region_fds);
}

void vfio_irq_prepare(VFIODevice *vbasedev, int n)
{
    int i;

    vbasedev->irq_fds = g_new0(int, n);
    for (i = 0; i < n; i++) {
        vbasedev->irq_fds[i] = -1;
    }
}

void vfio_irq_unprepare(VFIODevice *vbasedev, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (vbasedev->irq_fds[i] != -1) {
            // ok: VFIO012
            close(vbasedev->irq_fds[i]);
        }
    }
}

static bool vfio_device_is_open(VFIODevice *vbasedev)
{
    // ok: VFIO012
    return vbasedev->fd >= 0;
}

static bool vfio_device_kvm_add(VFIODevice *vbasedev, Error **errp)
{
    // a call that acts on a descriptor and returns a status, not a descriptor
    // ok: VFIO012
    return !vfio_kvm_device_add_fd(vbasedev->fd, errp);
}

// path: lib/vfio_user/host/vfio_user_pci.c
// SPDK style: fds received over the socket into a memset-0 array.

static int
vfio_sparse_mmaps(struct vfio_device *device, struct vfio_region_info *info, int *fds,
		  uint32_t nr_areas)
{
	uint32_t i;

	for (i = 0; i < nr_areas; i++) {
		// ruleid: VFIO012
		if (*fds) {
			device->maps[i] = mmap(NULL, device->sizes[i], PROT_READ, MAP_SHARED,
					       fds[i], device->offsets[i]);
		}
	}
	for (i = 0; i < nr_areas; i++) {
		// ruleid: VFIO012
		close(fds[i]);
	}
	return 0;
}

static int
vfio_map_whole(struct vfio_device *device, int fd)
{
	device->maps[0] = mmap(NULL, device->sizes[0], PROT_READ, MAP_SHARED, fd, 0);
	// ruleid: VFIO012
	close(fd);
	return device->maps[0] == MAP_FAILED ? -EFAULT : 0;
}

static int
vfio_map_regions(struct vfio_device *device, struct vfio_region_info *info)
{
	int fds[VFIO_MAXIMUM_SPARSE_MMAP_REGIONS];
	int got_fds = 0, ret;
	uint32_t i;

	memset(fds, 0, sizeof(fds));
	vfio_user_get_region_info(device, info, fds, &got_fds);
	ret = vfio_sparse_mmaps(device, info, fds, info->nr_areas);
	if (ret < 0)
		ret = vfio_map_whole(device, fds[0]);
	for (i = 0; i < got_fds; i++) {
		// ok: VFIO012
		close(fds[i]);
	}
	return 0;
}

// path: vfio/core.c
// kvmtool style: an int named for what it opens is a descriptor when used as one.

static int vfio_container;

static int vfio_container_init(struct kvm *kvm)
{
	vfio_container = open(VFIO_DEV_NODE, O_RDWR);
	// ok: VFIO012
	if (vfio_container == -1)
		return -errno;
	return ioctl(vfio_container, VFIO_GET_API_VERSION) == VFIO_API_VERSION ? 0 : -ENODEV;
}

static int vfio_container_exit(struct kvm *kvm)
{
	// ruleid: VFIO012
	if (vfio_container)
		close(vfio_container);
	return 0;
}

// path: vfio/pci.c
// kvmtool style: descriptors initialised to -1 and compared with -1.

static void vfio_pci_disable_intx(struct kvm *kvm, struct vfio_device *vdev)
{
	struct vfio_pci_device *pdev = &vdev->pci;

	// ok: VFIO012
	if (pdev->intx_fd == -1)
		return;
	close(pdev->intx_fd);
	close(pdev->unmask_fd);
	pdev->intx_fd = -1;
}

static int vfio_pci_init_intx(struct kvm *kvm, struct vfio_device *vdev)
{
	int trigger_fd = eventfd(0, 0);

	// ok: VFIO012
	if (trigger_fd < 0)
		return -errno;
	vdev->pci.intx_fd = trigger_fd;
	return 0;
}

// path: lib/tran_sock.c
// libvfio-user style: the listening socket.

static int
sock_close(vfu_ctx_t *vfu_ctx, struct tran_sock *ts)
{
    // ruleid: VFIO012
    if (ts->listen_fd > 0) {
        close(ts->listen_fd);
    }
    ts->listen_fd = -1;
    return 0;
}
