// Rough Coccinelle equivalent of vfiolint VFIO004 (dmabuf-unmappable-bar), for bench/run.py:
// a BAR handed to a DMABUF/P2P exporter in a function that never reads bar_mmap_supported[]
// or non_mappable_bars.
@r004 exists@
identifier f;
position p;
@@
f(...) { <+...
\( vfio_pci_core_fill_phys_vec(...)@p \| pcim_p2pdma_provider(...)@p \| pci_p2pdma_add_resource(...)@p \)
...+> }

@ok004 exists@
identifier r004.f;
expression V;
@@
f(...) { <+... \( V->bar_mmap_supported \| V->non_mappable_bars \) ...+> }

@script:python depends on !ok004@
p << r004.p;
@@
print("%s:%s: VFIO004 dmabuf-unmappable-bar" % (p[0].file, p[0].line))
