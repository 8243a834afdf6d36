"""Verdicts on real history for the user-space families: the commits that introduced and fixed
VFIO011 (irq-set-buffer-overflow), VFIO012 (fd-zero-sentinel) and VFIO013
(config-short-read) in DPDK, SPDK and libvfio-user.

Each needs a clone of its project (a bare mirror is enough), named by an environment variable:
``VFIOLINT_DPDK``, ``VFIOLINT_SPDK``, ``VFIOLINT_LIBVFIO_USER``. Without it a test is skipped;
CI has no network and the corpus carries modelled cases instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli


def _mirror(var: str) -> str | None:
    """Return the clone an environment variable names, if it exists."""
    path = os.environ.get(var)
    return path if path and Path(path).exists() else None


DPDK = _mirror("VFIOLINT_DPDK")
SPDK = _mirror("VFIOLINT_SPDK")
LIBVFIO_USER = _mirror("VFIOLINT_LIBVFIO_USER")
needs_dpdk = pytest.mark.skipif(DPDK is None, reason="VFIOLINT_DPDK names no DPDK clone")
needs_spdk = pytest.mark.skipif(SPDK is None, reason="VFIOLINT_SPDK names no SPDK clone")
needs_lvu = pytest.mark.skipif(LIBVFIO_USER is None,
                               reason="VFIOLINT_LIBVFIO_USER names no libvfio-user clone")


def verdicts(repo: str | None, commit: str, rule: str) -> list[tuple[str, str, str, int]]:
    """Return (status, path, function, line) of one rule's findings in one commit."""
    assert repo is not None
    proc = run_cli("check", "--git", commit, "--repo", repo, "--format", "json",
                   "--select", rule)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    doc = json.loads(proc.stdout)
    return [(f["status"], f["path"], f["function"], f["line"]) for f in doc["findings"]]


# VFIO011 irq-set-buffer-overflow -----------------------------------------------------------


@needs_dpdk
def test_a3f8150eac6d_fills_one_eventfd_per_vring_into_a_fixed_buffer() -> None:
    """"net/ifcvf: add ifcvf vDPA driver": the buffer holds IFCVF_MAX_QUEUES * 2 + 1
    eventfds, the count is the vring number vhost reports."""
    assert verdicts(DPDK, "a3f8150eac6d", "VFIO011") == [
        ("introduced", "drivers/net/ifc/ifcvf_vdpa.c", "vdpa_enable_vfio_intr", 310)]


@needs_dpdk
def test_2a213b794fdd_bounds_the_vring_count() -> None:
    """"vdpa/ifc: fix build with GCC 12": nr_vring > IFCVF_MAX_QUEUES * 2 is refused."""
    assert verdicts(DPDK, "2a213b794fdd", "VFIO011") == [
        ("fixed", "drivers/vdpa/ifc/ifcvf_vdpa.c", "vdpa_enable_vfio_intr", 394)]


@needs_dpdk
def test_1fb9f4ab14b3_turns_the_vla_into_a_fixed_buffer() -> None:
    """"common/cnxk: remove VLA in interrupt configuration": the buffer is sized for
    PLT_MAX_RXTX_INTR_VEC_ID while the count stays the handle's max_intr. Only the macro
    changes; the whole file shows the function it breaks."""
    assert verdicts(DPDK, "1fb9f4ab14b3", "VFIO011") == [
        ("introduced", "drivers/common/cnxk/roc_platform.c", "irq_init", 103)]


@needs_dpdk
def test_ac49303df89d_sizes_a_heap_buffer_from_the_count() -> None:
    """"common/cnxk: fix VFIO MSI-X interrupt setup"."""
    assert verdicts(DPDK, "ac49303df89d", "VFIO011") == [
        ("fixed", "drivers/common/cnxk/roc_platform.c", "irq_init", 103)]


# VFIO012 fd-zero-sentinel ------------------------------------------------------------------


@needs_dpdk
def test_b758423bc4fe_and_ff0b67d1c868_test_the_group_fd_against_zero() -> None:
    """The two commits 1f16fa99aa36 names in its Fixes: trailers."""
    assert verdicts(DPDK, "b758423bc4fe", "VFIO012") == [
        ("introduced", "lib/librte_eal/linux/eal_vfio.c", "vfio_get_group_fd", 382)]
    assert verdicts(DPDK, "ff0b67d1c868", "VFIO012") == [
        ("introduced", "lib/librte_eal/linuxapp/eal/eal_pci_vfio.c", "pci_vfio_map_resource",
         494)]


@needs_dpdk
def test_1f16fa99aa36_fixes_every_zero_test_of_the_group_fd() -> None:
    """"vfio: fix group descriptor check": 0 for "not found" becomes -ENOENT."""
    assert verdicts(DPDK, "1f16fa99aa36", "VFIO012") == [
        ("fixed", "lib/librte_eal/linux/eal_vfio.c", "vfio_get_group_fd", 384),
        ("fixed", "lib/librte_eal/linux/eal_vfio.c", "rte_vfio_setup_device", 740),
        ("fixed", "lib/librte_eal/linux/eal_vfio.c", "rte_vfio_release_device", 978),
        ("fixed", "lib/librte_eal/linux/eal_vfio_mp_sync.c", "vfio_mp_primary", 49),
    ]


@needs_dpdk
def test_a69f79300262_and_4b10ae80272b_in_the_fslmc_bus() -> None:
    """"bus/fslmc: support multi VFIO group" copies the '== 0' test into fslmc;
    "bus/fslmc: fix VFIO group descriptor check" removes it."""
    assert ("introduced", "drivers/bus/fslmc/fslmc_vfio.c", "fslmc_vfio_setup_device",
            455) in verdicts(DPDK, "a69f79300262", "VFIO012")
    assert verdicts(DPDK, "4b10ae80272b", "VFIO012") == [
        ("fixed", "drivers/bus/fslmc/fslmc_vfio.c", "fslmc_vfio_setup_device", 464)]


@needs_dpdk
def test_96128b365eff_guards_a_close_of_minus_one_which_is_not_this_rule() -> None:
    """"vfio: fix close unchecked file descriptor": close(-1) is harmless EBADF and not
    reported; the '== 0' test in the function it touches stays."""
    assert verdicts(DPDK, "96128b365eff", "VFIO012") == [
        ("present", "lib/librte_eal/linuxapp/eal/eal_vfio_mp_sync.c", "vfio_mp_sync_thread",
         320)]


@needs_lvu
def test_df39d1b810bc_guards_a_close_of_minus_one_which_is_not_this_rule() -> None:
    """libvfio-user "don't attempt to close invalid file desriptor"."""
    assert verdicts(LIBVFIO_USER, "df39d1b810bc", "VFIO012") == []


@needs_spdk
def test_3ff9c136147e_tests_received_fds_for_zero() -> None:
    """"NVMe/vfio-user: add initial version vfio-user transport": the received fds land in
    a memset-0 array and 'if (*fds)' means "we got some"."""
    assert verdicts(SPDK, "3ff9c136147e", "VFIO012") == [
        ("introduced", "lib/vfio_user/vfio_user_pci.c", "vfio_device_setup_sparse_mmaps", 250)]


@needs_spdk
def test_fad37e0916dc_closes_every_entry_of_the_zero_filled_array() -> None:
    """"vfio-user: close fds received from GET_REGION_INFO": a close for every sparse area and
    for the whole-region fd, also for entries the server never filled."""
    assert verdicts(SPDK, "fad37e0916dc", "VFIO012") == [
        ("present", "lib/vfio_user/host/vfio_user_pci.c", "vfio_device_setup_sparse_mmaps", 222),
        ("introduced", "lib/vfio_user/host/vfio_user_pci.c", "vfio_device_setup_sparse_mmaps",
         242),
        ("introduced", "lib/vfio_user/host/vfio_user_pci.c", "vfio_device_map_region", 261),
    ]


# VFIO013 config-short-read -----------------------------------------------------------------


@needs_dpdk
def test_6ba1f63b5ab0_tests_config_reads_only_for_errors() -> None:
    """"virtio: support specification 1.0" (then rte_eal_pci_read_config)."""
    assert verdicts(DPDK, "6ba1f63b5ab0", "VFIO013") == [
        ("introduced", "drivers/net/virtio/virtio_pci.c", "virtio_read_caps", 792),
        ("introduced", "drivers/net/virtio/virtio_pci.c", "virtio_read_caps", 815),
    ]


@needs_dpdk
def test_49bb1f7a0ab7_compares_the_counts_with_the_lengths() -> None:
    """"net/virtio: fix PCI config error handling": 'ret < 0' becomes 'ret != len'; the
    notify multiplier read it does not touch stays discarded."""
    assert verdicts(DPDK, "49bb1f7a0ab7", "VFIO013") == [
        ("fixed", "drivers/net/virtio/virtio_pci.c", "virtio_read_caps", 576),
        ("present", "drivers/net/virtio/virtio_pci.c", "virtio_read_caps", 632),
        ("fixed", "drivers/net/virtio/virtio_pci.c", "vtpci_msix_detect", 702),
    ]


@needs_dpdk
def test_25500d4b8076_and_691733e72bda_in_crypto_virtio() -> None:
    """"crypto/virtio: support device init" drops the notify multiplier's count;
    "crypto/virtio: check PCI config read" requires 4 bytes."""
    assert verdicts(DPDK, "25500d4b8076", "VFIO013") == [
        ("introduced", "drivers/crypto/virtio/virtio_pci.c", "virtio_read_caps", 363),
        ("introduced", "drivers/crypto/virtio/virtio_pci.c", "virtio_read_caps", 400),
    ]
    assert verdicts(DPDK, "691733e72bda", "VFIO013") == [
        ("present", "drivers/crypto/virtio/virtio_pci.c", "virtio_read_caps", 363),
        ("fixed", "drivers/crypto/virtio/virtio_pci.c", "virtio_read_caps", 400),
    ]


@needs_dpdk
def test_error_only_fixes_leave_the_short_count_present() -> None:
    """e1000, hns3 and bnxt turned discarded results into '< 0' tests: present, not fixed
    (hns3's write now returns its count to the caller, which is the caller's to check)."""
    assert verdicts(DPDK, "08141dc7e1d6", "VFIO013") == [
        ("present", "drivers/net/e1000/em_rxtx.c", "em_flush_desc_rings", 2118),
        ("present", "drivers/net/e1000/em_rxtx.c", "em_flush_desc_rings", 2130),
    ]
    assert verdicts(DPDK, "52c33734587a", "VFIO013") == [
        ("present", "drivers/net/bnxt/bnxt_ethdev.c", "bnxt_read_fw_status_reg", 4169)]
    assert verdicts(DPDK, "243651cb6c8c", "VFIO013") == [
        ("present", "drivers/net/hns3/hns3_ethdev_vf.c", "hns3vf_set_bus_master", 73),
        ("fixed", "drivers/net/hns3/hns3_ethdev_vf.c", "hns3vf_set_bus_master", 80),
        ("present", "drivers/net/hns3/hns3_ethdev_vf.c", "hns3vf_find_pci_capability", 105),
        ("present", "drivers/net/hns3/hns3_ethdev_vf.c", "hns3vf_enable_msix", 158),
        ("present", "drivers/net/hns3/hns3_ethdev_vf.c", "hns3vf_enable_msix", 170),
    ]
