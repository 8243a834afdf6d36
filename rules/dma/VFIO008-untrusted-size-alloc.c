// path: lib/libvfio-user.c
// vfio-user server handlers: sizes in the client's message.

static int
demo_dirty_pages_get(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_user_dirty_pages *req = msg->in_data;
    struct vfio_user_bitmap_range *range = msg->in_data + sizeof(*req);
    size_t need;

    if (msg->in_size < sizeof(*req) + sizeof(*range) || req->argsz < sizeof(*req)) {
        return ERROR_INT(EINVAL);
    }
    need = sizeof(*req) + sizeof(*range) + range->bitmap.size;
    msg->out_size = MIN(req->argsz, need);
    // ruleid: VFIO008
    msg->out_data = malloc(msg->out_size);
    if (msg->out_data == NULL) {
        return -1;
    }
    return 0;
}

static int
demo_dma_unmap(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg, struct vfio_user_dma_unmap *unmap)
{
    size_t out_size = sizeof(*unmap);

    if (msg->in_size < sizeof(*unmap) || unmap->argsz < sizeof(*unmap)) {
        return ERROR_INT(EINVAL);
    }
    if (unmap->flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) {
        out_size += sizeof(*unmap->bitmap) + unmap->bitmap->size;
    }
    // ruleid: VFIO008
    msg->out_data = malloc(out_size);
    return msg->out_data == NULL ? -1 : 0;
}

static int
demo_region_read(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_user_region_access *ra = msg->in.iov.iov_base;

    if (msg->in.iov.iov_len < sizeof(*ra) || ra->region >= vfu_ctx->nr_regions) {
        return ERROR_INT(EINVAL);
    }
    msg->out.iov.iov_len = sizeof(*ra) + ra->count;
    // ruleid: VFIO008
    msg->out.iov.iov_base = calloc(1, msg->out.iov.iov_len);
    return msg->out.iov.iov_base == NULL ? -1 : 0;
}

static int
demo_exec(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    if (msg->hdr.cmd == VFIO_USER_DMA_UNMAP) {
        return demo_dma_unmap(vfu_ctx, msg, msg->in_data);
    }
    if (msg->hdr.cmd == VFIO_USER_DMA_UNMAP + 100) {
        return demo_dma_unmap_fixed(vfu_ctx, msg, msg->in_data);
    }
    return 0;
}

/* Capped at the server's maximum transfer size. */
static int
demo_dirty_pages_get_fixed(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_user_dirty_pages *req = msg->in_data;
    struct vfio_user_bitmap_range *range = msg->in_data + sizeof(*req);
    size_t need;

    if (msg->in_size < sizeof(*req) + sizeof(*range) ||
        req->argsz > SERVER_MAX_DATA_XFER_SIZE || req->argsz < sizeof(*req)) {
        return ERROR_INT(EINVAL);
    }
    need = satadd_u64(sizeof(*req) + sizeof(*range), range->bitmap.size);
    msg->out_size = MIN(req->argsz, need);
    // ok: VFIO008
    msg->out_data = malloc(msg->out_size);
    return msg->out_data == NULL ? -1 : 0;
}

/* Capped in a validator the guard calls. */
static bool
demo_is_valid_unmap(vfu_msg_t *msg, struct vfio_user_dma_unmap *unmap)
{
    if (msg->in_size < sizeof(*unmap) || unmap->argsz > SERVER_MAX_DATA_XFER_SIZE) {
        return false;
    }
    return true;
}

static int
demo_dma_unmap_fixed(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg, struct vfio_user_dma_unmap *unmap)
{
    size_t out_size = sizeof(*unmap);

    if (!demo_is_valid_unmap(msg, unmap)) {
        return -1;
    }
    out_size += sizeof(*unmap->bitmap) + unmap->bitmap->size;
    // ok: VFIO008
    msg->out_data = malloc(out_size);
    return msg->out_data == NULL ? -1 : 0;
}

/* Bounded by a MIN() with the server's own size. */
static int
demo_region_info(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_region_info *in_info = msg->in.iov.iov_base;
    size_t caps_size = demo_caps_size(vfu_ctx, in_info->index);

    msg->out.iov.iov_len = MIN(sizeof(*in_info) + caps_size, in_info->argsz);
    // ok: VFIO008
    msg->out.iov.iov_base = calloc(1, msg->out.iov.iov_len);
    return msg->out.iov.iov_base == NULL ? -1 : 0;
}

/* A request size checked against the client's own limit. */
static int
demo_mig_read(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_user_mig_data *req = msg->in.iov.iov_base;

    if (req->size > vfu_ctx->client_max_data_xfer_size) {
        return ERROR_INT(EINVAL);
    }
    msg->out.iov.iov_len = sizeof(*req) + req->size;
    // ok: VFIO008
    msg->out.iov.iov_base = calloc(1, msg->out.iov.iov_len);
    return 0;
}

/* A lower bound is no cap. */
static int
demo_region_write(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_user_region_access *ra = msg->in.iov.iov_base;
    char *copy;

    if (ra->count < sizeof(uint32_t)) {
        return ERROR_INT(EINVAL);
    }
    // ruleid: VFIO008
    copy = malloc(ra->count);
    return copy == NULL ? -1 : 0;
}

// path: drivers/vfio/vfio_iommu_type1.c
// Kernel handlers: the request is copied in from the user.

struct demo_iommu {
	struct rb_root dma_list;
	unsigned int dma_avail;
};

static int demo_dma_do_map(struct demo_iommu *iommu, struct vfio_iommu_type1_dma_map *map)
{
	struct demo_dma *dma;

	if (demo_find_dma(iommu, map->iova, map->size))
		return -EEXIST;
	// ruleid: VFIO008
	dma = kzalloc(sizeof(*dma), GFP_KERNEL);
	if (!dma)
		return -ENOMEM;
	dma->iova = map->iova;
	demo_link_dma(iommu, dma);
	return 0;
}

static int demo_map_dma(struct demo_iommu *iommu, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_iommu_type1_dma_map, size);
	struct vfio_iommu_type1_dma_map map;

	if (copy_from_user(&map, arg, minsz))
		return -EFAULT;
	if (map.argsz < minsz)
		return -EINVAL;
	return demo_dma_do_map(iommu, &map);
}

/* The budget of CVE-2019-3882's fix. */
static int demo_dma_do_map_limited(struct demo_iommu *iommu,
				   struct vfio_iommu_type1_dma_map *map)
{
	struct demo_dma *dma;

	if (!iommu->dma_avail)
		return -ENOSPC;
	// ok: VFIO008
	dma = kzalloc(sizeof(*dma), GFP_KERNEL);
	if (!dma)
		return -ENOMEM;
	iommu->dma_avail--;
	demo_link_dma(iommu, dma);
	return 0;
}

static int demo_map_dma_limited(struct demo_iommu *iommu, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_iommu_type1_dma_map, size);
	struct vfio_iommu_type1_dma_map map;

	if (copy_from_user(&map, arg, minsz))
		return -EFAULT;
	if (map.argsz < minsz)
		return -EINVAL;
	return demo_dma_do_map_limited(iommu, &map);
}

static int demo_hot_reset(struct demo_device *vdev, struct vfio_pci_hot_reset __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_pci_hot_reset, count);
	struct vfio_pci_hot_reset hdr;
	int32_t *group_fds;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	if (hdr.argsz < minsz)
		return -EINVAL;
	// ruleid: VFIO008
	group_fds = kcalloc(hdr.count, sizeof(*group_fds), GFP_KERNEL);
	if (!group_fds)
		return -ENOMEM;
	return 0;
}

static int demo_hot_reset_bounded(struct demo_device *vdev,
				  struct vfio_pci_hot_reset __user *arg, int count)
{
	unsigned long minsz = offsetofend(struct vfio_pci_hot_reset, count);
	struct vfio_pci_hot_reset hdr;
	int32_t *group_fds;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	if (hdr.argsz < minsz || !hdr.count || hdr.count > count)
		return -EINVAL;
	// ok: VFIO008
	group_fds = kcalloc(hdr.count, sizeof(*group_fds), GFP_KERNEL);
	if (!group_fds)
		return -ENOMEM;
	return 0;
}

static int demo_logging_start(struct demo_device *vdev, void __user *arg)
{
	struct vfio_device_feature_dma_logging_control control;
	u32 nnodes;
	void *nodes;

	if (copy_from_user(&control, arg, sizeof(control)))
		return -EFAULT;
	nnodes = control.num_ranges;
	if (!nnodes)
		return -EINVAL;
	if (nnodes > LOG_MAX_RANGES)
		return -E2BIG;
	// ok: VFIO008
	nodes = kmalloc_array(nnodes, sizeof(struct interval_tree_node), GFP_KERNEL);
	return nodes ? 0 : -ENOMEM;
}

/* A size the kernel computes itself. */
static int demo_alloc_bitmap(struct demo_dma *dma, size_t pgsize)
{
	// ok: VFIO008
	dma->bitmap = kvzalloc(DIRTY_BITMAP_BYTES(dma->size / pgsize), GFP_KERNEL);
	return dma->bitmap ? 0 : -ENOMEM;
}
