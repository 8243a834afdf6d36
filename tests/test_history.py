"""Verdicts on real history: DPDK commits whose later fixes name the hazard.

These need a DPDK clone (a bare mirror is enough): ``VFIOLINT_DPDK=/path/to/dpdk.git``.
Without it they are skipped; CI has no network and the corpus carries modelled cases instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli

DPDK = os.environ.get("VFIOLINT_DPDK")
pytestmark = pytest.mark.skipif(not DPDK or not Path(DPDK).exists(),
                                reason="VFIOLINT_DPDK names no DPDK clone")


def verdicts(commit: str) -> list[tuple[str, str, int, str]]:
    """Return (status, function, line, narrowed field) of VFIO003's narrowings in a commit."""
    proc = run_cli("check", "--git", commit, "--repo", str(DPDK), "--format", "json",
                   "--select", "VFIO003")
    doc = json.loads(proc.stdout)
    return [(f["status"], f["function"], f["line"], f["message"].split()[1])
            for f in doc["findings"] if "narrowed" in f["message"]]


def test_90a1633b2347_introduces_the_32_bit_memreg() -> None:
    """"eal/linux: allow to map BARs with MSI-X tables": uint32_t offsets and sizes."""
    assert verdicts("90a1633b2347") == [
        ("introduced", "pci_vfio_map_resource", 760, "offset"),
        ("introduced", "pci_vfio_map_resource", 763, "size"),
        ("introduced", "pci_vfio_map_resource", 773, "offset"),
        ("introduced", "pci_vfio_map_resource", 774, "size"),
    ]


def test_0205f873557c_fixes_the_sizes_and_leaves_the_offsets() -> None:
    """"vfio: fix overflow of BAR region offset and size": sizes become size_t, offsets
    unsigned long, which is still 32 bits on a 32-bit host (seed 002's point)."""
    assert verdicts("0205f873557c") == [
        ("present", "pci_vfio_map_resource", 766, "offset"),
        ("fixed", "pci_vfio_map_resource", 769, "size"),
        ("present", "pci_vfio_map_resource", 779, "offset"),
        ("fixed", "pci_vfio_map_resource", 780, "size"),
    ]


def test_33604c31354a_moves_the_narrowing_behind_a_member_and_fixes_nothing() -> None:
    """"vfio: refactor PCI BAR mapping": reg.offset is kept in struct pci_map's 64-bit member
    and narrowed in the new pci_vfio_mmap_bar(): present, not fixed."""
    assert verdicts("33604c31354a") == [
        ("present", "pci_vfio_mmap_bar", 374, "offset"),
        ("present", "pci_vfio_mmap_bar", 376, "offset"),
        ("present", "pci_vfio_mmap_bar", 386, "offset"),
    ]


def test_8108393d982b_fixes_the_offsets() -> None:
    """"vfio: fix truncated BAR offset for 32-bit"."""
    assert verdicts("8108393d982b") == [
        ("fixed", "pci_vfio_mmap_bar", 490, "offset"),
        ("fixed", "pci_vfio_mmap_bar", 500, "offset"),
        ("fixed", "pci_vfio_mmap_bar", 511, "offset"),
    ]


def test_d4774a568ba0_maps_the_msix_bar_whole_and_45fdc3ed8764_reverts_it() -> None:
    """VFIO005: the retry that maps the whole MSI-X BAR first, then its revert."""
    def vfio005(commit: str) -> list[tuple[str, str]]:
        proc = run_cli("check", "--git", commit, "--repo", str(DPDK), "--format", "json",
                       "--select", "VFIO005")
        return [(f["status"], f["function"]) for f in json.loads(proc.stdout)["findings"]]

    assert ("introduced", "pci_vfio_mmap_bar") in vfio005("d4774a568ba0")
    assert ("fixed", "pci_vfio_mmap_bar") in vfio005("45fdc3ed8764")
