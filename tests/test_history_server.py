"""Verdicts on real history, server side: libvfio-user commits that introduced or fixed the
hazards of VFIO006 (irq-set-range-overflow), VFIO007 (argsz-unchecked) and VFIO008
(untrusted-size-alloc).

These need a libvfio-user clone (a bare mirror is enough):
``VFIOLINT_LIBVFIO_USER=/path/to/libvfio-user.git``. Without it they are skipped. The kernel
fixes of these families (CVE-2016-9083/9084, CVE-2019-3882) have no local history: the corpus
carries modelled patches of them instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli

LVU = os.environ.get("VFIOLINT_LIBVFIO_USER")
pytestmark = pytest.mark.skipif(not LVU or not Path(LVU).exists(),
                                reason="VFIOLINT_LIBVFIO_USER names no libvfio-user clone")
SERVER_RULES = "VFIO006,VFIO007,VFIO008"


def verdicts(commit: str) -> list[tuple[str, str, str, str, int]]:
    """Return (rule, status, path, function, line) of the server rules' findings in a commit."""
    proc = run_cli("check", "--git", commit, "--repo", str(LVU), "--format", "json",
                   "--select", SERVER_RULES)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    doc = json.loads(proc.stdout)
    return sorted((f["rule"], f["status"], f["path"], f["function"], f["line"])
                  for f in doc["findings"])


# VFIO006 ---------------------------------------------------------------------------------------


def test_f8ef2771ca6c_initial_commit_introduces_the_32_bit_irq_range_sum() -> None:
    """"Initial commit": start + count > irq_count, found by SPDK's fuzzer five years on."""
    assert verdicts("f8ef2771ca6c") == [
        ("VFIO006", "introduced", "lib/libmuser.c", "dev_set_irqs_validate", 275)]


def test_052d709d0cfd_rewrites_the_irq_validation_and_keeps_the_sum() -> None:
    """"fix IRQ disable path (#386)": the hunk rewrites the validation around the sum."""
    assert verdicts("052d709d0cfd") == [
        ("VFIO006", "present", "lib/irq.c", "device_set_irqs_validate", 258)]


def test_b646559cc90f_fixes_the_irq_range_with_a_saturating_add() -> None:
    """"correct IRQ range check (#791)"."""
    assert verdicts("b646559cc90f") == [
        ("VFIO006", "fixed", "lib/irq.c", "device_set_irqs_validate", 317)]


# VFIO007 ---------------------------------------------------------------------------------------


def test_fe27b18d7c20_adds_dirty_pages_without_an_argsz_check() -> None:
    """"support for live migration region and dirty page logging": the handler carries a
    "FIXME must also check argsz"."""
    assert verdicts("fe27b18d7c20") == [
        ("VFIO007", "introduced", "lib/libmuser.c", "handle_dirty_pages", 2143)]


def test_5bec2b0cd1f7_validates_argsz() -> None:
    """"validate argsz": GET_REGION_INFO and DIRTY_PAGES (GET_IRQ_INFO's helper already
    checked it, so that hunk fixes nothing the rule saw)."""
    assert verdicts("5bec2b0cd1f7") == [
        ("VFIO007", "fixed", "lib/muser_ctx.c", "handle_device_get_region_info", 1584),
        ("VFIO007", "fixed", "lib/muser_ctx.c", "handle_dirty_pages", 1909),
    ]


@pytest.mark.parametrize("commit", ["217b60de1eda", "b4baf0395888"])
def test_device_get_info_fixes_are_not_seen(commit: str) -> None:
    """"Fix handling of VFIO_USER_DEVICE_GET_INFO" and "fix DEVICE_GET_INFO specification and
    handling (#344)": before them the server never read the client's struct at all, so there
    is no use of it without a check to report (a known miss of the rule)."""
    assert verdicts(commit) == []


# VFIO008 ---------------------------------------------------------------------------------------


def test_aee8c0fc1248_allocates_the_unmap_reply_from_the_bitmap_size() -> None:
    """"support VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP (#521)": malloc(region->bitmap->size)."""
    assert verdicts("aee8c0fc1248") == [
        ("VFIO008", "introduced", "lib/libvfio-user.c", "handle_dma_unmap", 566)]


def test_75a0ac2c5240_caps_the_unmap_argsz() -> None:
    """"fix dma unmap validation (#626)": "allowing a client to trigger unbounded
    allocations"."""
    assert verdicts("75a0ac2c5240") == [
        ("VFIO008", "fixed", "lib/libvfio-user.c", "handle_dma_unmap", 798)]


def test_9ed077601004_sizes_the_dirty_pages_reply_from_the_client() -> None:
    """"fixes for VFIO_USER_DIRTY_PAGES (#537)"."""
    assert verdicts("9ed077601004") == [
        ("VFIO008", "introduced", "lib/libvfio-user.c", "handle_dirty_pages_get", 691)]


def test_9c37a1813b65_bounds_the_region_size_in_another_file() -> None:
    """"limit max DMA region size (#545)": the cap is in lib/dma.c, which the reply's
    allocation in lib/libvfio-user.c does not see; argsz is still uncapped there."""
    assert verdicts("9c37a1813b65") == [
        ("VFIO008", "present", "lib/libvfio-user.c", "handle_dirty_pages_get", 689)]


def test_d8a08f1a1837_caps_the_dirty_pages_argsz() -> None:
    """"check ->argsz for VFIO_USER_DIRTY_PAGES (#628)"."""
    assert verdicts("d8a08f1a1837") == [
        ("VFIO008", "fixed", "lib/libvfio-user.c", "handle_dirty_pages_get", 909)]


def test_f240c889171a_allocates_the_region_info_reply_from_argsz() -> None:
    """"return region capabilities a la VFIO (#187)": calloc(1, argsz) with the client's
    argsz, checked from below only (the check moved into the helper, which the rule sees)."""
    assert verdicts("f240c889171a") == [
        ("VFIO008", "introduced", "lib/libvfio-user.c", "dev_get_reginfo", 234)]


def test_29d91682128b_bounds_the_region_info_reply() -> None:
    """"more spec updates (#491)": "FIXME: we don't cap client-provided in_info->argsz" gives
    way to MIN(sizeof(*out_info) + caps_size, argsz). The IRQ range is touched, still 32-bit."""
    assert verdicts("29d91682128b") == [
        ("VFIO006", "present", "lib/irq.c", "device_set_irqs_validate", 288),
        ("VFIO008", "fixed", "lib/libvfio-user.c", "handle_device_get_region_info", 407),
    ]


def test_57684de8240f_caps_the_region_access_count() -> None:
    """"replace max_msg_size with max_data_xfer_size (#541)": "FIXME: ->count unbounded
    (alloc)" gives way to count > SERVER_MAX_DATA_XFER_SIZE."""
    assert verdicts("57684de8240f") == [
        ("VFIO008", "fixed", "lib/libvfio-user.c", "handle_region_access", 312)]
