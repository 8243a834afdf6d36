"""vfiolint: a patch-review static analyzer for VFIO-related C code."""

__version__ = "0.1.0"
