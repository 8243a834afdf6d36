"""Verdicts on real history for the region families: libvfio-user commits that introduced and
fixed a wrapping bounds check (VFIO009) and a byte offset added to a typed pointer (VFIO010).

These need a libvfio-user clone (a bare mirror is enough):
``VFIOLINT_LIBVFIO_USER=/path/to/libvfio-user.git``. Without it they are skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli

LIBVFIO_USER = os.environ.get("VFIOLINT_LIBVFIO_USER")
pytestmark = pytest.mark.skipif(not LIBVFIO_USER or not Path(LIBVFIO_USER).exists(),
                                reason="VFIOLINT_LIBVFIO_USER names no libvfio-user clone")


def verdicts(commit: str, rule: str) -> list[tuple[str, str, str, int]]:
    """Return (status, path, function, line) of a rule's findings in one commit."""
    proc = run_cli("check", "--git", commit, "--repo", str(LIBVFIO_USER), "--format", "json",
                   "--select", rule)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    return sorted((f["status"], f["path"], f["function"], f["line"]) for f in doc["findings"])


# VFIO009 region-access-wrap --------------------------------------------------------------------


def test_6ec31642f625_introduces_the_wrapping_region_access_check() -> None:
    """"re-work access handling (#220)": ra->offset + ra->count > size, with a FIXME about
    wrap-around; the count is capped, the 64-bit offset is not."""
    assert verdicts("6ec31642f625", "VFIO009") == [
        ("introduced", "lib/libvfio-user.c", "is_valid_region_access", 268)]


def test_3602ad8f6ebb_fixes_it_with_a_saturating_add() -> None:
    """"is_valid_region_access(): account for wrap-around (#624)"."""
    assert verdicts("3602ad8f6ebb", "VFIO009") == [
        ("fixed", "lib/libvfio-user.c", "is_valid_region_access", 279)]


def test_ad88ffd9acdf_introduces_the_wrapping_dma_unmap_argsz_check() -> None:
    """"restore argsz for DMA map/unmap (#523)": argsz < sizeof + sizeof + bitmap->size.
    (aee8c0fc1248, which added the dirty bitmap, compared only two sizeofs: not this.)"""
    assert verdicts("ad88ffd9acdf", "VFIO009") == [
        ("introduced", "lib/libvfio-user.c", "handle_dma_unmap", 561)]
    assert verdicts("aee8c0fc1248", "VFIO009") == []


def test_75a0ac2c5240_fixes_the_dma_unmap_check() -> None:
    """"fix dma unmap validation (#626)": satadd_u64() in is_valid_unmap(). The dirty pages
    handler's sum, in the same file, is untouched and not counted as fixed."""
    assert verdicts("75a0ac2c5240", "VFIO009") == [
        ("fixed", "lib/libvfio-user.c", "handle_dma_unmap", 768)]


def test_9ed077601004_introduces_and_d8a08f1a1837_fixes_the_dirty_pages_sum() -> None:
    """"fixes for VFIO_USER_DIRTY_PAGES (#537)" computes the reply size as headers + the
    client's bitmap size and compares it with argsz twice; "check ->argsz for
    VFIO_USER_DIRTY_PAGES (#628)" makes it a saturating sum."""
    assert verdicts("9ed077601004", "VFIO009") == [
        ("introduced", "lib/libvfio-user.c", "handle_dirty_pages_get", 685),
        ("introduced", "lib/libvfio-user.c", "handle_dirty_pages_get", 701)]
    assert verdicts("d8a08f1a1837", "VFIO009") == [
        ("fixed", "lib/libvfio-user.c", "handle_dirty_pages_get", 922)]


# VFIO010 byte-offset-typed-pointer -------------------------------------------------------------


def test_dcd0395bbe26_copies_the_sparse_cap_at_a_scaled_sizeof() -> None:
    """"Implementation of VFIO_USER_DEVICE_GET_REGION_INFO": *vfio_reg + sizeof(**vfio_reg)."""
    assert verdicts("dcd0395bbe26", "VFIO010") == [
        ("introduced", "lib/libmuser.c", "dev_get_sparse_mmap_cap", 993)]


def test_8a4c27e125c2_replaces_one_scaled_offset_by_another() -> None:
    """"Fix error return from dev_get_sparse_mmap_cap()": sizeof(**vfio_reg) becomes
    (*vfio_reg)->cap_offset, still added to the struct pointer: fixed and introduced."""
    assert verdicts("8a4c27e125c2", "VFIO010") == [
        ("fixed", "lib/libmuser.c", "dev_get_sparse_mmap_cap", 993),
        ("introduced", "lib/libmuser.c", "dev_get_sparse_mmap_cap", 998)]


def test_d1ab77f44121_adds_the_offset_to_a_char_pointer() -> None:
    """"Fix the copy logic of sparse areas": (char *)*vfio_reg + cap_offset."""
    assert verdicts("d1ab77f44121", "VFIO010") == [
        ("fixed", "lib/libmuser.c", "dev_get_sparse_mmap_cap", 998)]


def test_190f85bf9c11_and_1c0cf16e4954_the_time_t_bar0_offset() -> None:
    """"adapt to VFIO live migration v2 (#782)" copies at &server_data->bar0 + offset (a
    time_t); "fix: minor memory bugs #784" (Coverity ARRAY_VS_SINGLETON) casts to char *."""
    assert verdicts("190f85bf9c11", "VFIO010") == [
        ("introduced", "samples/server.c", "migration_read_data", 394),
        ("introduced", "samples/server.c", "migration_write_data", 438)]
    assert verdicts("1c0cf16e4954", "VFIO010") == [
        ("fixed", "samples/server.c", "migration_read_data", 394),
        ("fixed", "samples/server.c", "migration_write_data", 438)]
