// Rough Coccinelle equivalent of vfiolint VFIO002 (mmap-subpage-region), for bench/run.py:
// VFIO_REGION_INFO_FLAG_MMAP tested in a function that never mentions the page size.
@r002 exists@
identifier f;
expression E;
position p;
@@
f(...) { <+...
\( E & VFIO_REGION_INFO_FLAG_MMAP@p \| VFIO_REGION_INFO_FLAG_MMAP@p & E \)
...+> }

@ok002 exists@
identifier r002.f;
@@
f(...) { <+...
\( PAGE_SIZE \| PAGE_MASK \| PAGE_ALIGN(...) \| TARGET_PAGE_SIZE \| TARGET_PAGE_MASK \| qemu_real_host_page_size(...) \| getpagesize(...) \| sysconf(_SC_PAGESIZE) \| rte_mem_page_size(...) \| pagesz \| page_size \| pgsz \| pgsize \)
...+> }

@script:python depends on !ok002@
p << r002.p;
@@
print("%s:%s: VFIO002 mmap-subpage-region" % (p[0].file, p[0].line))
