"""The bot's parts: series grouping on a real SQLite state, the cost control, the tree a series
is checked against, the configuration."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest

from tests import botmail
from vfiolint.bot.check import analyse_series, as_mbox, tree_use
from vfiolint.bot.series import Kind, classify, find_previous, normalise, place, read_heading
from vfiolint.bot.settings import Clock, Tree, duration, parse_settings
from vfiolint.bot.state import State
from vfiolint.c import cparse
from vfiolint.config import Config, ConfigError
from vfiolint.inputs.stream import chunks
from vfiolint.limits import Limits
from vfiolint.rules.engine import _cached_match
from vfiolint.rules.loader import Rule

QEMU = "20261130090000.100"
WAIT = 6 * 3600.0


def feed(state: State, messages: list[bytes], now: float = 1000.0) -> list[int | None]:
    """Place every patch and cover letter as the bot does; return their series ids."""
    out = []
    with state.transaction():
        for n, data in enumerate(messages):
            heading = read_heading(data)
            if heading.kind in (Kind.COVER, Kind.PATCH):
                out.append(place(state, heading, f"k{n}-{heading.msgid}", data, now, WAIT))
    return out


@pytest.fixture
def state(tmp_path: Path) -> State:
    return State(tmp_path / "state.sqlite")


def test_classify_tells_patches_from_replies_and_pull_requests() -> None:
    diff = b"diff --git a/x.c b/x.c\n"
    assert classify("[PATCH v3 2/7] vfio/pci: x", b"")[:4] == (Kind.PATCH, 3, 2, 7)
    assert classify("[RFC PATCH 0/3] vfio: y", b"")[0] is Kind.COVER
    assert classify("[dpdk-dev] [PATCH] bus/pci: z", b"")[:4] == (Kind.PATCH, 1, 1, 1)
    assert classify("Re: [PATCH 2/7] vfio/pci: x", diff)[0] is Kind.REPLY
    assert classify("AW: [PATCH 2/7] vfio/pci: x", diff)[0] is Kind.REPLY
    assert classify("[PULL 03/12] vfio/pci: x", diff)[0] is Kind.OTHER
    assert classify("[GIT PULL] VFIO updates", b"")[0] is Kind.OTHER
    assert classify("vfio: an untagged patch", diff)[:4] == (Kind.PATCH, 1, 1, 1)
    assert classify("vfio: a question", b"> diff --git a/x.c b/x.c\n")[0] is Kind.OTHER
    assert normalise("Re: [PATCH v2 0/5] VFIO/Region:  Map  it") == "vfio/region: map it"


def test_patches_before_their_cover_letter_form_one_series(state: State) -> None:
    cover, *patches = botmail.qemu_series(1, QEMU)
    ids = feed(state, [*reversed(patches), cover])
    assert len(set(ids)) == 1
    series = state.series(ids[0])  # type: ignore[arg-type]
    assert series.cover == f"{QEMU}-0-jane.doe@example.org"
    assert series.subject == "[PATCH 0/5] vfio/region: map mmap-capable regions whole"
    assert state.counters(series.id) == {0, 1, 2, 3, 4, 5}


def test_chained_replies_out_of_order_merge_into_one_series(state: State) -> None:
    # git send-email --chain-reply-to: each patch answers the previous one.
    messages = []
    chain: list[str] = []
    for n, (subject, message, changes) in enumerate(botmail.qemu_patches(1), start=1):
        msgid = f"chain-{n}@example.org"
        messages.append(botmail.mail(msgid, f"[PATCH {n}/5] {subject}",
                                     botmail.patch_body(message, changes),
                                     parent=chain[-1] if chain else None, refs=tuple(chain)))
        chain.append(msgid)
    order = [messages[i] for i in (4, 2, 0, 3, 1)]
    feed(state, order)
    [series] = state.open_series()
    assert state.counters(series.id) == {1, 2, 3, 4, 5}
    assert series.subject == "[PATCH 1/5] vfio/region: keep the region's file offset"


def test_unthreaded_patches_group_by_author_revision_and_length(state: State) -> None:
    messages = [botmail.mail(f"flat-{n}@example.org", f"[PATCH v2 {n}/2] vfio: part {n}",
                             "diff --git a/a.c b/a.c\n", minutes=n) for n in (1, 2)]
    other = botmail.mail("flat-x@example.org", "[PATCH v2 1/2] net: other", "x",
                         author=botmail.RAVI)
    ids = feed(state, [*messages, other])
    assert ids[0] == ids[1] != ids[2]


def test_v2_in_reply_to_v1_supersedes_an_incomplete_v1(state: State) -> None:
    v1 = botmail.qemu_series(1, QEMU, skip=(4,))
    v1_cover = f"{QEMU}-0-jane.doe@example.org"
    v2 = botmail.qemu_series(2, "v2", thread=v1_cover)
    ids = feed(state, v1 + v2)
    first, second = ids[0], ids[-1]
    assert first != second and len(set(ids)) == 2
    assert find_previous(state, second) == first  # type: ignore[arg-type]
    # The same subject from the same author also links revisions sent as new threads.
    v3 = botmail.qemu_series(3, "v3")
    third = feed(state, v3)[0]
    assert find_previous(state, third) == second  # type: ignore[arg-type]


def test_a_duplicate_counter_is_recorded_but_not_counted(state: State) -> None:
    series = botmail.qemu_series(1, QEMU)
    resent = series[3].replace(b"Message-Id: <", b"Message-Id: <again-")
    ids = feed(state, [*series, resent])
    assert ids[-1] is None
    assert state.message_counts() == {"cover": 1, "patch": 6}


def counting_parse(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count tree-sitter parses from here on."""
    calls: list[int] = []
    real = cparse.parse

    def parse(text: bytes) -> object:
        calls.append(len(text))
        return real(text)

    _cached_match.cache_clear()
    monkeypatch.setattr(cparse, "parse", parse)
    return calls


def test_a_series_no_rule_cares_about_is_skipped_without_parsing(
        monkeypatch: pytest.MonkeyPatch, rules: list[Rule]) -> None:
    calls = counting_parse(monkeypatch)
    skipped = analyse_series("ixgbe", botmail.ixgbe_series("x", 0), rules, Config(), None)
    assert skipped.outcome is None and skipped.wanted == () and calls == []
    checked = analyse_series("qemu", botmail.qemu_series(1, QEMU), rules, Config(), None)
    assert checked.outcome is not None and calls
    assert checked.wanted == ("hw/vfio/region.c",)
    assert [(f.rule, f.status.value) for f in checked.outcome.findings] == [
        ("VFIO002", "introduced")]
    # With the files excluded, nothing is left to look at.
    calls.clear()
    quiet = Config(exclude=("hw/**",))
    assert analyse_series("qemu", botmail.qemu_series(1, QEMU), rules, quiet,
                          None).outcome is None
    assert calls == []


def test_a_series_with_an_unreadable_patch_is_checked_and_says_so(
        rules: list[Rule]) -> None:
    huge = botmail.mail("huge@example.org", "[PATCH 2/2] vfio: huge", "diff --git a/a.c b/a.c\n"
                        + "@@ -1,1 +1,1 @@\n-a\n+b\n" * 6)
    messages = [botmail.qemu_series(1, QEMU)[3], huge]
    result = analyse_series("s", messages, rules, Config(), None, Limits(hunks=3))
    assert result.outcome is not None
    assert [(f.rule, f.status.value) for f in result.outcome.findings] == [
        ("VFIO002", "introduced")]
    assert [m for _, m in result.outcome.errors] == [
        "s: message 2: skipped: too large (6 hunks, limit 3)"]


def test_as_mbox_quotes_body_lines_that_read_as_separators() -> None:
    body = "From nobody Mon Nov 30 09:00:00 2026\nSubject: not a header\n"
    messages = [botmail.mail("a@x", "[PATCH] a", body), botmail.mail("b@x", "[PATCH] b", "x")]
    data = as_mbox(messages)
    assert b"\n>From nobody Mon Nov 30 09:00:00 2026\n" in data
    assert len(list(chunks(io.BytesIO(data), "m", Limits()))) == 2


def test_the_tree_base_is_the_series_base_commit_else_the_branch(tmp_path: Path) -> None:
    repo = tmp_path / "qemu"
    env = ["-c", "user.name=T", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "master", str(repo)], check=True)
    for n in (1, 2):
        subprocess.run(["git", "-C", str(repo), *env, "commit", "-q", "--allow-empty", "-m",
                        f"c{n}"], check=True)
    first, tip = subprocess.run(["git", "-C", str(repo), "rev-list", "--reverse", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.split()
    tree = Tree(repo, "master")
    cover = botmail.qemu_series(1, QEMU)[0]
    use = tree_use(tree, [cover])  # its base-commit is not in this repository
    assert (use.base, use.mode, use.note) == (tip, "hunks", "tip of master")
    based = cover.replace(b"0123456789abcdef0123456789abcdef01234567", first.encode())
    assert tree_use(tree, [based]).base == first
    assert tree_use(Tree(repo, "next"), [cover]).base is None
    assert tree_use(None, [cover]).repo is None


def test_settings_are_checked_and_durations_read() -> None:
    assert duration("90s", "x") == 90 and duration("6h", "x") == 21600
    assert duration(2.5, "x") == 2.5 and duration("2d", "x") == 172800
    settings = parse_settings({
        "list": {"name": "kvm", "address": "kvm@vger.kernel.org"},
        "tree": {"repo": "/srv/linux", "branch": "vfio/next"},
        "rules": {"ignore": ["VFIO005"]},
        "reply": {"from": "bot <bot@example.org>", "per": "patch", "cc-list": True},
        "smtp": {"host": "smtp.example.org", "retry": "30s"}}, "bot.toml")
    assert settings.tree == Tree(Path("/srv/linux"), "vfio/next")
    assert settings.rules.ignore == frozenset({"VFIO005"})
    assert settings.reply.domain == "example.org" and settings.smtp is not None
    assert settings.smtp.retry == 30 and settings.smtp.on_crash == "assume-sent"
    for bad, message in [({"reply": {"cc-list": True}}, "needs [list] address"),
                         ({"reply": {"per": "thread"}}, "'per' must be one of"),
                         ({"reply": {"target-url": "{nope}"}}, "unknown field"),
                         ({"smtp": {"host": "h", "port": 0}}, "must be a port"),
                         ({"rules": {"colour": 1}}, "unknown key 'colour'"),
                         ({"list": {"name": 3}}, "'name' must be a string")]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse_settings(bad, "bot.toml")


def test_the_clock_offset_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VFIOLINT_BOT_CLOCK_OFFSET", "6h")
    assert Clock.from_environment().offset == 21600
    monkeypatch.setenv("VFIOLINT_BOT_CLOCK_OFFSET", "-60")
    assert Clock.from_environment().offset == -60
    monkeypatch.setenv("VFIOLINT_BOT_CLOCK_OFFSET", "later")
    with pytest.raises(ConfigError):
        Clock.from_environment()


def test_check_decodes_encoded_words_in_subject_and_author(rules: list[Rule]) -> None:
    from tests.conftest import findings_of

    _, _, patch = botmail.qemu_series(1, QEMU)[3].partition(b"\n\n")
    head = (b"From: =?UTF-8?q?J=C3=B6rg_R=C3=B6del?= <joro@example.org>\n"
            b"Subject: =?UTF-8?q?=5BPATCH_3/5=5D_vfio/region=3A_r=C3=A9gions?=\n"
            b"Date: Mon, 30 Nov 2026 09:00:00 +0000\nMessage-Id: <u@example.org>\n\n")
    found, errors = findings_of("p.eml", head + patch, rules)
    assert errors == []
    assert [(f.rule, f.patch.subject if f.patch else None) for f in found] == [
        ("VFIO002", "[PATCH 3/5] vfio/region: régions")]
