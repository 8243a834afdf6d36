// Rough Coccinelle equivalent of vfiolint VFIO005 (msix-table-mmap), for bench/run.py:
// the MSI-X BAR guard joined with && to a switch, or a device-wide MSI-X flag tested.
@r005@
expression I, D, E;
identifier bar =~ "^msix_(bar|bir|table_bar)$";
identifier sw;
identifier flag =~ "^VFIO_DEVICE_FLAGS_[A-Z0-9_]*MSIX";
position p;
@@
(
I == D->bar && !sw(...)@p
|
I == D->bar && IS_ENABLED(...)@p
|
E & flag@p
|
flag@p & E
)

@script:python@
p << r005.p;
@@
print("%s:%s: VFIO005 msix-table-mmap" % (p[0].file, p[0].line))
