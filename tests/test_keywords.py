"""The keyword pre-filter: parts found in one scan, kept by blob id, never hiding a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.test_git import HEADER, NARROW_HEADER, PADDING, SAFE, commit, git
from vfiolint.c.cache import Cache
from vfiolint.rules.keywords import BlobKeywords, KeywordSet, Presence, implies
from vfiolint.rules.loader import load_rules


def bundled_keywords() -> KeywordSet:
    return KeywordSet.of(tuple(k for r in load_rules() for k in r.keywords))


def test_one_scan_finds_what_asking_part_by_part_finds() -> None:
    keywords = bundled_keywords()
    texts = [p.read_bytes() for p in sorted((ROOT / "corpus").rglob("*"))
             if p.is_file() and p.suffix in {".c", ".h", ".patch", ".mbox", ".eml", ".html"}]
    texts += [b"", b"spread(x); rte_pread(); (pread64(fd", b"vfio_irq_set\nmsix->bar"]
    assert len(texts) > 50
    for text in texts:
        lazy = Presence((text,))
        assert keywords.scan(text) == {p for p in keywords.parts if p in lazy}


def test_a_part_is_looked_for_only_where_a_part_it_holds_was_found() -> None:
    assert implies(b"vfio_irq_set", b"vfio_")
    assert implies(b"\\bpread64", b"\\bpread")
    assert implies(b"\\bpread64", b"pread")
    assert not implies(b"xpread", b"\\bpread")  # "xpread" holds "pread", not a word start
    assert not implies(b"vfio_", b"vfio_")
    keywords = KeywordSet((b"\\bpread", b"pread64", b"vfio_", b"vfio_irq_set"))
    assert keywords.scan(b"spread64(vfio_irq_set)") == {b"pread64", b"vfio_", b"vfio_irq_set"}
    assert keywords.decode(keywords.encode(frozenset({b"vfio_", b"pread64"}))) == \
        {b"vfio_", b"pread64"}


def test_blob_parts_are_kept_in_the_cache_and_a_damaged_table_is_rebuilt(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    keywords = KeywordSet((b"vfio_", b"zzz"))
    oid = "ab" * 20
    first = BlobKeywords(keywords, Cache.open(tmp_path))
    first.put(oid, frozenset({b"zzz"}))
    first.close()
    assert BlobKeywords(keywords, Cache.open(tmp_path)).get(oid) == {b"zzz"}
    assert BlobKeywords(KeywordSet((b"other",)), Cache.open(tmp_path)).get(oid) is None
    second = BlobKeywords(keywords, Cache.open(tmp_path))
    second.put("cd" * 20, frozenset())
    second.close()
    many = BlobKeywords(keywords, Cache.open(tmp_path)).get_many(["ab" * 20, "cd" * 20, "ef" * 20])
    assert many == {"ab" * 20: {b"zzz"}, "cd" * 20: frozenset()}  # a blob never scanned: absent
    table = first.path
    assert table is not None and table.is_file()
    kept = [p for p in table.parent.iterdir() if p.name.startswith("keywords-")]
    assert all(p.is_file() and p.name.split(".", 1)[1] in {"sqlite", "sqlite-wal", "sqlite-shm"}
               for p in kept)  # a table per set of parts, not a file per blob
    for name in (table, table.with_name(table.name + "-wal")):
        if name.exists():
            name.write_bytes(b"garbage" * 100)
    again = BlobKeywords(keywords, Cache.open(tmp_path))
    assert again.get(oid) is None  # dropped: the blob is scanned again
    assert "damaged keyword table dropped" in caplog.text
    again.put(oid, frozenset({b"vfio_"}))
    again.close()
    assert BlobKeywords(keywords, Cache.open(tmp_path)).get(oid) == {b"vfio_"}


def test_a_cache_that_cannot_be_written_keeps_the_parts_in_memory(tmp_path: Path) -> None:
    keywords = KeywordSet((b"vfio_",))
    cache = Cache(tmp_path / "nowhere", writable=False)
    blobs = BlobKeywords(keywords, cache)
    blobs.put("cd" * 20, frozenset({b"vfio_"}))
    blobs.close()
    assert blobs.get("cd" * 20) == {b"vfio_"}
    assert not (tmp_path / "nowhere").exists()
    # A table made earlier is still read, and not written.
    made = BlobKeywords(keywords, Cache.open(tmp_path / "made"))
    made.put("ef" * 20, frozenset())
    made.close()
    reader = BlobKeywords(keywords, Cache(tmp_path / "made", writable=False))
    assert reader.get("ef" * 20) == frozenset()
    reader.put("01" * 20, frozenset({b"vfio_"}))
    reader.close()
    assert BlobKeywords(keywords, Cache.open(tmp_path / "made")).get("01" * 20) is None


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A file that names no keyword, then a change that adds a hazard, then its fix."""
    path = tmp_path / "history"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit(path, {"README": "x\n"}, "root")
    commit(path, {"drivers/pci.c": PADDING}, "plain")
    commit(path, {"drivers/pci.c": NARROW_HEADER + PADDING + SAFE}, "map the region")
    commit(path, {"drivers/pci.c": HEADER + PADDING + SAFE}, "widen the offset")
    return path


def _check(repo: Path, *extra: str) -> list[tuple[str, str, str]]:
    proc = run_cli("check", "--git", "HEAD~3..HEAD", "--repo", str(repo), "--format", "json",
                   *extra)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    return [(f["rule"], f["status"], f["patch"]["subject"]) for f in doc["findings"]]


def test_the_parts_kept_for_blobs_hide_nothing_a_later_commit_adds(
        history: Path, tmp_path: Path) -> None:
    expected = [("VFIO003", "introduced", "map the region"),
                ("VFIO003", "fixed", "widen the offset")]
    cache = tmp_path / "cache"
    assert _check(history, "--no-cache") == expected
    assert _check(history, "--cache-dir", str(cache)) == expected  # blobs scanned, kept
    table = BlobKeywords(bundled_keywords(), Cache.open(cache))
    assert table.get(git(history, "rev-parse", "HEAD:drivers/pci.c").strip()), \
        "the last post-image's parts were not kept"
    assert _check(history, "--cache-dir", str(cache)) == expected  # every answer kept
    # A blob kept with no part at all must not hide the lines a later commit adds.
    assert table.path is not None
    table.path.unlink()
    plain = git(history, "rev-parse", "HEAD~2:drivers/pci.c").strip()
    fresh = BlobKeywords(bundled_keywords(), Cache.open(cache))
    fresh.put(plain, frozenset())
    fresh.close()
    assert _check(history, "--cache-dir", str(cache)) == expected


def test_a_revision_checked_with_the_blobs_parts_kept_reports_as_without_them(
        history: Path, tmp_path: Path) -> None:
    commit(history, {"lib/plain.c": PADDING, "lib/other.c": "int other(void) { return 0; }\n",
                     "lib/narrow.c": NARROW_HEADER + SAFE}, "more files")

    def tree(*extra: str) -> dict[str, object]:
        proc = run_cli("check", "--tree", "HEAD", "--repo", str(history), "--format", "json",
                       *extra)
        assert proc.returncode == 1, proc.stderr
        doc = json.loads(proc.stdout)
        return {"findings": doc["findings"], "coverage": doc["coverage"]}

    cache = str(tmp_path / "cache")
    alone = tree("--no-cache")
    assert [f["rule"] for f in alone["findings"]] == ["VFIO003"]  # type: ignore[index]
    assert tree("--cache-dir", cache) == alone  # every blob scanned and kept
    assert tree("--cache-dir", cache) == alone  # the plain files skipped unread
