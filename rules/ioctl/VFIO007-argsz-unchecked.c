// path: drivers/vfio/pci/demo_vfio_pci.c
// Kernel ioctl handlers: the argument struct is copied in from the user.

static int demo_ioctl_get_region_info(struct demo_device *vdev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_region_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	// ruleid: VFIO007
	if (info.index >= DEMO_NUM_REGIONS)
		return -EINVAL;
	info.offset = demo_index_to_offset(info.index);
	info.size = vdev->region_size[info.index];
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/* A GET_INFO that reads nothing, but writes the struct back. */
static int demo_ioctl_get_info(struct demo_device *vdev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	info.flags = VFIO_DEVICE_FLAGS_PCI;
	info.num_regions = DEMO_NUM_REGIONS;
	info.num_irqs = DEMO_NUM_IRQS;
	// ruleid: VFIO007
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/* argsz used as a length: argsz - minsz underflows when argsz is small. */
static int demo_ioctl_hot_reset(struct demo_device *vdev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_pci_hot_reset, count);
	struct vfio_pci_hot_reset hdr;
	size_t room;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	// ruleid: VFIO007
	room = hdr.argsz - minsz;
	return demo_reset_groups(vdev, arg + minsz, room);
}

/* The kernel's own form: argsz checked right after the copy. */
static int demo_ioctl_get_irq_info(struct demo_device *vdev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= DEMO_NUM_IRQS)
		return -EINVAL;
	// ok: VFIO007
	info.count = demo_irq_count(vdev, info.index);
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

/* Validated by a helper of another file before use. */
static int demo_ioctl_set_irqs(struct demo_device *vdev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_set, count);
	struct vfio_irq_set hdr;
	size_t data_size = 0;
	int ret;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	// ok: VFIO007
	ret = vfio_set_irqs_validate_and_prepare(&hdr, demo_irq_count(vdev, hdr.index),
						 DEMO_NUM_IRQS, &data_size);
	if (ret)
		return ret;
	return demo_set_irqs(vdev, hdr.flags, hdr.index, hdr.start, hdr.count);
}

/* Checked in a same-file helper the handler calls. */
static int demo_check_map(struct vfio_iommu_type1_dma_map *map)
{
	return map->argsz < offsetofend(struct vfio_iommu_type1_dma_map, size) ? -EINVAL : 0;
}

static int demo_ioctl_map_dma(struct demo_iommu *iommu, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_iommu_type1_dma_map, size);
	struct vfio_iommu_type1_dma_map map;

	if (copy_from_user(&map, arg, minsz))
		return -EFAULT;
	if (demo_check_map(&map))
		return -EINVAL;
	// ok: VFIO007
	return demo_do_map(iommu, map.iova, map.vaddr, map.size);
}

/* A struct without argsz is no VFIO request. */
static int demo_feature_pm_entry(struct demo_device *vdev, void __user *arg)
{
	struct vfio_device_low_power_entry_with_wakeup entry;

	if (copy_from_user(&entry, arg, sizeof(entry)))
		return -EFAULT;
	// ok: VFIO007
	if (entry.wakeup_eventfd < 0)
		return -EINVAL;
	return 0;
}

/* A struct the handler builds itself to reply with. */
static int demo_ioctl_group_status(struct demo_group *group, void __user *arg)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };

	status.flags = demo_group_viable(group) ? VFIO_GROUP_FLAGS_VIABLE : 0;
	// ok: VFIO007
	return copy_to_user(arg, &status, sizeof(status)) ? -EFAULT : 0;
}

// path: lib/libvfio-user.c
// vfio-user server handlers: the request is the client's message.

static int
demo_handle_get_region_info(vfu_ctx_t *vfu_ctx, uint32_t size,
                            struct vfio_region_info *reg_info_in,
                            struct vfio_region_info **reg_info_out)
{
    if (size != sizeof(*reg_info_in)) {
        return -EINVAL;
    }

    // ruleid: VFIO007
    return demo_get_reginfo(vfu_ctx, reg_info_in->index, reg_info_out);
}

static int
demo_handle_dirty_pages(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_iommu_type1_dirty_bitmap *dirty = msg->in.iov.iov_base;

    if (msg->in.iov.iov_len < sizeof(*dirty)) {
        vfu_log(vfu_ctx, LOG_ERR, "invalid size %zu", msg->in.iov.iov_len);
        return ERROR_INT(EINVAL);
    }

    // ruleid: VFIO007
    if (dirty->flags & VFIO_IOMMU_DIRTY_PAGES_FLAG_START) {
        return demo_logging_start(vfu_ctx);
    }
    return demo_logging_stop(vfu_ctx);
}

static int
demo_exec_command(vfu_ctx_t *vfu_ctx, struct vfio_user_header *hdr, void *cmd_data,
                  struct vfio_region_info **out)
{
    switch (hdr->cmd) {
    case VFIO_USER_DEVICE_GET_REGION_INFO:
        return demo_handle_get_region_info(vfu_ctx, hdr->msg_size, cmd_data, out);
    case VFIO_USER_DEVICE_GET_IRQ_INFO:
        return demo_handle_get_irq_info(vfu_ctx, hdr->msg_size, cmd_data, out);
    default:
        return -EINVAL;
    }
}

/* The fixed handler. */
static int
demo_handle_get_irq_info(vfu_ctx_t *vfu_ctx, uint32_t size, struct vfio_irq_info *in,
                         struct vfio_irq_info *out)
{
    if (size != sizeof(*in) || in->argsz < sizeof(*in)) {
        return -EINVAL;
    }
    // ok: VFIO007
    out->index = in->index;
    out->count = vfu_ctx->irq_count[in->index];
    return 0;
}

/* Checked in the validator the handler calls on the message. */
static int
demo_set_irqs_validate(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_irq_set *irq_set = msg->in.iov.iov_base;

    if (msg->in.iov.iov_len < sizeof(*irq_set) || irq_set->argsz < sizeof(*irq_set)) {
        return ERROR_INT(EINVAL);
    }
    return 0;
}

static int
demo_handle_set_irqs(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_irq_set *irq_set = msg->in.iov.iov_base;
    int ret;

    ret = demo_set_irqs_validate(vfu_ctx, msg);
    if (ret != 0) {
        return ret;
    }
    // ok: VFIO007
    return demo_irqs_trigger(vfu_ctx, irq_set->index, irq_set->start, irq_set->count);
}

/* A helper handed an already validated request. */
static int
demo_irqs_trigger_set(vfu_ctx_t *vfu_ctx, struct vfio_irq_set *irq_set)
{
    // ok: VFIO007
    return demo_irqs_trigger(vfu_ctx, irq_set->index, irq_set->start, irq_set->count);
}

/* The reply, built by the server: not the client's struct. */
static int
demo_handle_get_info(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_device_info *in_info = msg->in.iov.iov_base;
    struct vfio_device_info *out_info;

    if (msg->in.iov.iov_len < sizeof(*in_info) || in_info->argsz < sizeof(*out_info)) {
        return ERROR_INT(EINVAL);
    }
    msg->out.iov.iov_len = sizeof(*out_info);
    msg->out.iov.iov_base = calloc(1, sizeof(*out_info));
    out_info = msg->out.iov.iov_base;
    // ok: VFIO007
    out_info->num_regions = vfu_ctx->nr_regions;
    return 0;
}
