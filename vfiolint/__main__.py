"""Run vfiolint as ``python -m vfiolint``."""

from vfiolint.cli import entry

entry()
