// Rough Coccinelle equivalent of vfiolint VFIO001 (dma-map-file-private), for bench/run.py:
// a file-based DMA mapping called under a condition that tests an fd, in a function that
// never requires shared memory.
@r001 exists@
identifier f, fd =~ "(^|_)(m|mem)?fd$|memfd|get_fd|backing_fd";
expression E;
position p;
@@
f(...) { <+...
if (<+... fd ...+>) { <+...
\( E->dma_map_file(...)@p \| dma_map_file(...)@p \| iommufd_backend_map_file_dma(...)@p \)
...+> }
...+> }

@ok001 exists@
identifier r001.f;
@@
f(...) { <+... \( MAP_SHARED \| RAM_SHARED \| qemu_ram_is_shared(...) \) ...+> }

@script:python depends on !ok001@
p << r001.p;
@@
print("%s:%s: VFIO001 dma-map-file-private" % (p[0].file, p[0].line))
