// Rough Coccinelle equivalent of vfiolint VFIO003 (region-offset-truncated), for bench/run.py:
// a vfio_region_info offset stored into or cast to a type that can be 32 bits wide, or an
// offset rebuilt from the region index with VFIO_PCI_OFFSET_SHIFT or a shift by 40.
@r003@
typedef uint32_t, u32, __u32, uintptr_t;
struct vfio_region_info *RP;
struct vfio_region_info R;
identifier V;
expression I;
position p;
@@
(
\( int \| unsigned int \| unsigned long \| uint32_t \| u32 \| __u32 \| size_t \| uintptr_t \) V@p = \( RP->offset \| R.offset \);
|
 (\( int \| unsigned int \| unsigned long \| uint32_t \| u32 \| __u32 \| size_t \| uintptr_t \)) \( RP->offset@p \| R.offset@p \)
|
I << VFIO_PCI_OFFSET_SHIFT@p
|
I << 40@p
)

@script:python@
p << r003.p;
@@
print("%s:%s: VFIO003 region-offset-truncated" % (p[0].file, p[0].line))
