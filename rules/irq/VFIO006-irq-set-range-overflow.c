// path: drivers/vfio/pci/vfio_pci_core.c
// Kernel SET_IRQS handlers: the request is copied from the user, start and count are its.

static int demo_ioctl_set_irqs(struct demo_device *vdev, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_set, count);
	struct vfio_irq_set hdr;
	size_t size;
	int max;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	if (hdr.argsz < minsz || hdr.index >= DEMO_NUM_IRQS)
		return -EINVAL;
	max = demo_irq_count(vdev, hdr.index);
	size = hdr.flags & VFIO_IRQ_SET_DATA_BOOL ? sizeof(u8) : sizeof(s32);
	if (hdr.argsz - minsz < hdr.count * size || hdr.start >= max ||
	    // ruleid: VFIO006
	    hdr.start + hdr.count > max)
		return -EINVAL;
	return demo_set_irqs(vdev, hdr.flags, hdr.index, hdr.start, hdr.count);
}

/* The sum in the other order, on the left of the test. */
static int demo_set_irqs_rev(struct demo_device *vdev, struct vfio_irq_set *req, int max)
{
	// ruleid: VFIO006
	if (max < req->count + req->start)
		return -EINVAL;
	return 0;
}

/* Through 32-bit locals: still a 32-bit sum. */
static int demo_set_irqs_locals(struct demo_device *vdev, struct vfio_irq_set *set, u32 max)
{
	u32 first = set->start;
	u32 n = set->count;

	// ruleid: VFIO006
	if (first + n > max)
		return -EINVAL;
	return 0;
}

/* The check returned as a verdict. */
static bool demo_range_ok(struct vfio_irq_set *set, u32 max)
{
	// ruleid: VFIO006
	return set->start < max && set->start + set->count <= max;
}

/* The fixed kernel: the wrap is ruled out first. */
static int demo_validate(struct vfio_irq_set *hdr, int max, int num_irqs)
{
	if (hdr->argsz < sizeof(*hdr) || hdr->index >= num_irqs ||
	    hdr->count >= (U32_MAX - hdr->start))
		return -EINVAL;
	// ok: VFIO006
	if (hdr->start >= max || hdr->start + hdr->count > max)
		return -EINVAL;
	return 0;
}

/* Widened before the add: no 32-bit wrap. */
static int demo_widened(struct vfio_irq_set *hdr, u64 max)
{
	// ok: VFIO006
	if ((u64)hdr->start + hdr->count > max)
		return -EINVAL;
	return 0;
}

/* count bounded on its own, and start: the sum cannot wrap. */
static int demo_both_bounded(struct vfio_irq_set *hdr, u32 max)
{
	if (hdr->start >= max || hdr->count > max)
		return -EINVAL;
	// ok: VFIO006
	if (hdr->start + hdr->count > max)
		return -EINVAL;
	return 0;
}

/* check_add_overflow() on the pair. */
static int demo_checked_add(struct vfio_irq_set *hdr, u32 max)
{
	u32 end;

	if (check_add_overflow(hdr->start, hdr->count, &end))
		return -EOVERFLOW;
	// ok: VFIO006
	if (hdr->start + hdr->count > max)
		return -EINVAL;
	return 0;
}

/* A helper's parameters from another file: the caller validated them. */
static int demo_msi_set_block(struct demo_device *vdev, unsigned start, unsigned count,
			      int32_t *fds)
{
	// ok: VFIO006
	if (start >= vdev->num_ctx || start + count > vdev->num_ctx)
		return -EINVAL;
	return 0;
}

// path: lib/irq.c
// A vfio-user server: the request is the client's message.

static int
demo_set_irqs_validate(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_irq_set *irq_set = msg->in.iov.iov_base;

    if (irq_set->index >= VFU_DEV_NUM_IRQS) {
        return ERROR_INT(EINVAL);
    }
    if ((irq_set->start >= vfu_ctx->irq_count[irq_set->index]) ||
        // ruleid: VFIO006
        (irq_set->start + irq_set->count > vfu_ctx->irq_count[irq_set->index])) {
        return ERROR_INT(EINVAL);
    }
    return 0;
}

/* The same check wrapped in unlikely(). */
static int
demo_set_irqs_unlikely(vfu_ctx_t *vfu_ctx, struct vfio_irq_set *set)
{
    // ruleid: VFIO006
    if (unlikely(set->start + set->count > vfu_ctx->irq_count[set->index])) {
        return ERROR_INT(EINVAL);
    }
    return 0;
}

/* The fix: a saturating add. */
static int
demo_set_irqs_validate_fixed(vfu_ctx_t *vfu_ctx, vfu_msg_t *msg)
{
    struct vfio_irq_set *irq_set = msg->in.iov.iov_base;

    if (irq_set->start >= vfu_ctx->irq_count[irq_set->index]) {
        return ERROR_INT(EINVAL);
    }
    // ok: VFIO006
    if (satadd_u32(irq_set->start, irq_set->count) > vfu_ctx->irq_count[irq_set->index]) {
        return ERROR_INT(EINVAL);
    }
    return 0;
}

/* A loop over the validated range is no check. */
static int
demo_set_data_none(vfu_ctx_t *vfu_ctx, struct vfio_irq_set *irq_set)
{
    uint32_t i;

    // ok: VFIO006
    for (i = irq_set->start; i < (irq_set->start + irq_set->count); i++) {
        demo_trigger(vfu_ctx, irq_set->index, i);
    }
    return 0;
}

/* An assertion after validation is no check either. */
static void
demo_set_state(vfu_ctx_t *vfu_ctx, struct vfio_irq_set *irq_set)
{
    // ok: VFIO006
    assert((irq_set->start + irq_set->count) <= vfu_ctx->irq_count[irq_set->index]);
}

/* The wrap test itself. */
static int
demo_wrap_test(struct vfio_irq_set *irq_set)
{
    // ok: VFIO006
    if (irq_set->start + irq_set->count < irq_set->start) {
        return ERROR_INT(EINVAL);
    }
    return 0;
}

// path: lib/eal/linux/eal_interrupts.c
// A client building its own request: nothing to check.

static int
demo_enable_msix(const struct rte_intr_handle *h, int n)
{
	char buf[IRQ_SET_BUF_LEN];
	struct vfio_irq_set *irq_set = (struct vfio_irq_set *)buf;

	irq_set->argsz = sizeof(buf);
	irq_set->start = 0;
	irq_set->count = n;
	// ok: VFIO006
	if (irq_set->start + n > RTE_MAX_RXTX_INTR_VEC_ID)
		return -1;
	return ioctl(rte_intr_dev_fd_get(h), VFIO_DEVICE_SET_IRQS, irq_set);
}
