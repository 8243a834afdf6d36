"""``vfiolint bot`` from the operator's side: a public-inbox archive built with git in tmp_path
from real-format list mail, the bot run as a command, replies caught by a real SMTP server
(aiosmtpd on 127.0.0.1) or written as .eml files."""

from __future__ import annotations

import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from tests import botmail
from tests.conftest import ROOT
from tests.test_trees import NARROW_H, PCI_C
from vfiolint.bot.archive import write_epoch
from vfiolint.bot.check import as_mbox

QEMU = "20261130090000.100"
DPDK = "20261130100000.200"
IXGBE = "20261130110000.300"
QEMU_V2 = "20261130150000.400"
BASE_CONFIG = """\
[list]
name = "qemu-devel"
address = "qemu-devel@nongnu.org"
[archive]
max-age = 0
[series]
wait = "6h"
[reply]
from = "vfiolint bot <vfiolint@bot.example.org>"
"""


def bot(*args: str, env: dict[str, str] | None = None,
        stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``vfiolint bot`` as an operator would."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("VFIOLINT_BOT_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "vfiolint", "bot", *args], input=stdin,
                          capture_output=True, cwd=ROOT, env=full, timeout=120, check=False,
                          text=stdin is None)


def config(tmp_path: Path, extra: str = "", name: str = "bot.toml") -> Path:
    """Write the bot's configuration file."""
    path = tmp_path / name
    path.write_text(BASE_CONFIG + extra)
    return path


def run_dry(tmp_path: Path, cfg: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """Run the bot once over tmp_path/inbox, writing replies to tmp_path/out."""
    return bot("run", "--once", "--archive", str(tmp_path / "inbox"), "--state",
               str(tmp_path / "state.sqlite"), "--config", str(cfg), "--dry-run",
               str(tmp_path / "out"), env=env)


def status(state: Path) -> dict[str, object]:
    """Return ``vfiolint bot status --json``."""
    proc = bot("status", "--state", str(state), "--json")
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, object] = json.loads(proc.stdout)
    return doc


def replies(folder: Path) -> list[EmailMessage]:
    """Read the .eml files of a dry run, in order."""
    files = sorted(folder.glob("*.eml"), key=lambda p: int(p.stem)) if folder.is_dir() else []
    out = []
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


def body(msg: EmailMessage) -> str:
    """Return a reply's text."""
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def epoch(tmp_path: Path, number: int, messages: list[bytes]) -> None:
    """Append messages to epoch ``number`` of the inbox."""
    write_epoch(tmp_path / "inbox" / "git" / f"{number}.git", messages)


# -- scenarios, with .eml files


def test_five_patch_series_with_cover_gets_one_threaded_reply(tmp_path: Path) -> None:
    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU))
    cfg = config(tmp_path)
    proc = run_dry(tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("vfiolint bot: 6 new message(s); series: 1 checked")
    [reply] = replies(tmp_path / "out")
    cover = f"<{QEMU}-0-jane.doe@example.org>"
    assert reply["To"] == botmail.JANE
    assert reply["Cc"] is None  # the list only when configured
    assert reply["From"] == "vfiolint bot <vfiolint@bot.example.org>"
    assert reply["Subject"] == "Re: [PATCH 0/5] vfio/region: map mmap-capable regions whole"
    assert reply["In-Reply-To"] == cover and reply["References"] == cover
    assert reply["Message-ID"].endswith("@bot.example.org>")
    assert reply["Auto-Submitted"] == "auto-generated"
    text = body(reply)
    assert "  VFIO002 introduced in 3/5\n" in text
    assert ("> +            memory_region_init_ram_device_ptr(&region->mmaps[0].mem, obj, name,\n"
            "> +                                              region->size, region->mmaps[0].mmap);"
            "\n\nVFIO002 (mmap-subpage-region), introduced:") in text
    assert "[PATCH 3/5] vfio/region: map mmap-capable regions directly" in text
    assert "[PATCH 1/5]" not in text  # clean patches are not quoted
    assert "\n\n\n" not in text
    assert all(len(x) <= 72 for x in text.splitlines() if not x.startswith(">"))
    record = json.loads((tmp_path / "out" / "series-1.json").read_text())
    assert record["check"] == {"state": "fail", "context": "vfiolint",
                               "description": "VFIO hazards: 1 introduced (VFIO002)",
                               "target_url": None}
    assert [p["check"]["state"] for p in record["patches"]] == [
        "success", "success", "fail", "success", "success"]
    assert record["replies"] == [reply["Message-ID"].strip("<>")]
    # A second run with the same state sends nothing new.
    again = run_dry(tmp_path, cfg)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("vfiolint bot: 0 new message(s); series: 0 checked")
    assert len(replies(tmp_path / "out")) == 1
    quiet = bot("run", "--once", "--quiet", "--archive", str(tmp_path / "inbox"), "--state",
                str(tmp_path / "state.sqlite"), "--config", str(cfg), "--dry-run",
                str(tmp_path / "out"))
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    doc = status(tmp_path / "state.sqlite")
    assert doc["series"] == {"checked": 1} and doc["replies"] == {"sent": 1}
    assert doc["messages"] == {"cover": 1, "patch": 5}


def test_the_bot_finds_what_check_finds_on_the_same_mbox(tmp_path: Path) -> None:
    messages = botmail.qemu_series(1, QEMU)
    epoch(tmp_path, 0, messages)
    run_dry(tmp_path, config(tmp_path))
    record = json.loads((tmp_path / "out" / "series-1.json").read_text())
    mbox = tmp_path / "series.mbox"
    mbox.write_bytes(as_mbox(messages))
    proc = subprocess.run([sys.executable, "-m", "vfiolint", "check", "--format", "json",
                           str(mbox)], capture_output=True, cwd=ROOT, check=False)
    checked = json.loads(proc.stdout)

    def same(f: dict[str, object]) -> tuple[object, ...]:
        patch = f["patch"]
        assert isinstance(patch, dict)
        return (f["rule"], f["status"], f["path"], f["line"], f["message"], f["fingerprint"],
                patch["subject"], patch["index"], patch["message_id"])

    assert [same(f) for f in record["findings"]] == [same(f) for f in checked["findings"]]
    assert len(record["findings"]) == 1


def test_v2_in_a_new_epoch_is_a_new_revision_of_the_series(tmp_path: Path) -> None:
    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU))
    cfg = config(tmp_path, "clean = true\n")  # [reply] is the last table of BASE_CONFIG
    run_dry(tmp_path, cfg)
    epoch(tmp_path, 1, botmail.qemu_series(2, QEMU_V2, minutes=360))
    proc = run_dry(tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    _, second = replies(tmp_path / "out")
    assert second["Subject"] == "Re: [PATCH v2 0/5] vfio/region: map mmap-capable regions whole"
    assert second["In-Reply-To"] == f"<{QEMU_V2}-0-jane.doe@example.org>"
    text = body(second)
    assert "found none introduced or left present" in text
    assert "Compared with v1: 1 finding(s) gone (VFIO002), 0 new." in text
    assert "-v 2" in text
    record = json.loads((tmp_path / "out" / "series-2.json").read_text())
    assert record["series"]["revision"] == 2
    assert record["series"]["previous"]["id"] == 1
    assert record["check"]["state"] == "success"
    doc = status(tmp_path / "state.sqlite")
    assert [(s["id"], s["revision"], s["previous"]) for s in doc["recent"]] == [
        (2, 2, 1), (1, 1, None)]
    assert [p["part"] for p in doc["positions"]] == ["git/0.git", "git/1.git"]


def test_series_missing_a_patch_is_checked_partial_after_the_wait(tmp_path: Path) -> None:
    epoch(tmp_path, 0, botmail.dpdk_series(DPDK, 0, skip=(3,)))
    cfg = config(tmp_path)
    proc = run_dry(tmp_path, cfg)
    assert "1 waiting" in proc.stdout
    assert replies(tmp_path / "out") == []
    [waiting] = status(tmp_path / "state.sqlite")["waiting"]  # type: ignore[misc]
    assert waiting["have"] == [1, 2, 4, 5] and waiting["expected"] == 5
    # Five hours later: still waiting.
    run_dry(tmp_path, cfg, env={"VFIOLINT_BOT_CLOCK_OFFSET": "5h"})
    assert replies(tmp_path / "out") == []
    proc = run_dry(tmp_path, cfg, env={"VFIOLINT_BOT_CLOCK_OFFSET": "6h"})
    assert "1 checked (1 partial)" in proc.stdout, proc.stdout
    [reply] = replies(tmp_path / "out")
    text = body(reply)
    assert ("4 of the 5 patches of this series (3/5 had not arrived 6 h after the first)"
            in " ".join(text.split()))
    assert "VFIO003 (region-offset-truncated), introduced" in text
    assert reply["To"] == botmail.RAVI
    record = json.loads((tmp_path / "out" / "series-1.json").read_text())
    assert record["series"]["partial"] is True and record["series"]["missing"] == [3]
    assert record["check"]["description"].endswith("(partial: 3 of 5 missing)")
    assert status(tmp_path / "state.sqlite")["series"] == {"partial": 1}


def test_replies_quoting_the_patches_are_not_patches(tmp_path: Path) -> None:
    # The review arrives first, then the series, then a reply to the cover letter.
    series = botmail.qemu_series(1, QEMU)
    epoch(tmp_path, 0, [botmail.review_quoting_patch(QEMU, 30), *series,
                        botmail.reply_to_cover(QEMU, 31)])
    run_dry(tmp_path, config(tmp_path))
    [reply] = replies(tmp_path / "out")
    assert reply["In-Reply-To"] == f"<{QEMU}-0-jane.doe@example.org>"
    doc = status(tmp_path / "state.sqlite")
    assert doc["messages"] == {"cover": 1, "patch": 5, "reply": 2}
    assert doc["series"] == {"checked": 1}


def test_a_review_alone_is_no_series(tmp_path: Path) -> None:
    epoch(tmp_path, 0, [botmail.review_quoting_patch(QEMU, 30)])
    run_dry(tmp_path, config(tmp_path))
    assert status(tmp_path / "state.sqlite")["series"] == {}
    assert replies(tmp_path / "out") == []


def test_non_vfio_series_is_recorded_and_skipped(tmp_path: Path) -> None:
    epoch(tmp_path, 0, botmail.ixgbe_series(IXGBE, 0))
    proc = run_dry(tmp_path, config(tmp_path, "clean = true\n"))
    assert "1 skipped" in proc.stdout
    assert replies(tmp_path / "out") == []
    assert not (tmp_path / "out" / "series-1.json").exists()
    [series] = status(tmp_path / "state.sqlite")["recent"]  # type: ignore[misc]
    assert series["state"] == "skipped"
    assert series["reason"] == "no C file an enabled rule looks at"


def test_replies_per_patch_go_to_each_patch_with_findings(tmp_path: Path) -> None:
    epoch(tmp_path, 0, botmail.dpdk_series(DPDK, 0) + botmail.qemu_series(1, QEMU, 60))
    cfg = config(tmp_path, 'per = "patch"\ncc-list = true\n'
                 'target-url = "https://lore.example.org/list/{msgid}/"\n')
    run_dry(tmp_path, cfg)
    dpdk, qemu = replies(tmp_path / "out")
    assert dpdk["Subject"] == ("Re: [PATCH 2/5] bus/pci: compute VFIO ioport base without "
                               "region lookup")
    assert dpdk["In-Reply-To"] == f"<{DPDK}-2-ravi.kumar@example.com>"
    assert dpdk["References"] == (f"<{DPDK}-0-ravi.kumar@example.com> "
                                  f"<{DPDK}-2-ravi.kumar@example.com>")
    assert dpdk["Cc"] == "qemu-devel@nongnu.org"
    assert qemu["In-Reply-To"] == f"<{QEMU}-3-jane.doe@example.org>"
    record = json.loads((tmp_path / "out" / "series-1.json").read_text())
    assert record["patches"][1]["check"]["target_url"] == (
        f"https://lore.example.org/list/{DPDK}-2-ravi.kumar@example.com/")


def test_rewritten_archive_is_read_again_without_repeating_replies(tmp_path: Path) -> None:
    messages = botmail.qemu_series(1, QEMU)
    epoch(tmp_path, 0, messages)
    cfg = config(tmp_path)
    run_dry(tmp_path, cfg)
    # The archive is rebuilt (a message purged upstream): old commits are gone.
    repo = tmp_path / "inbox" / "git" / "0.git"
    subprocess.run(["rm", "-rf", str(repo)], check=True)
    epoch(tmp_path, 0, [*messages, *botmail.dpdk_series(DPDK, 60)])
    proc = run_dry(tmp_path, cfg)
    assert proc.stdout.startswith("vfiolint bot: 6 new message(s)"), proc.stdout
    assert len(replies(tmp_path / "out")) == 2


def test_start_at_end_skips_what_the_archive_already_holds(tmp_path: Path) -> None:
    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU))
    cfg = config(tmp_path)
    cfg.write_text(cfg.read_text().replace("max-age = 0", 'max-age = 0\nstart = "end"'))
    proc = run_dry(tmp_path, cfg)
    assert proc.stdout.startswith("vfiolint bot: 0 new message(s)"), proc.stdout
    epoch(tmp_path, 0, botmail.dpdk_series(DPDK, 60))
    run_dry(tmp_path, cfg)
    [reply] = replies(tmp_path / "out")
    assert reply["To"] == botmail.RAVI


def test_max_age_keeps_old_series_unchecked(tmp_path: Path) -> None:
    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU))
    cfg = config(tmp_path)
    cfg.write_text(cfg.read_text().replace("max-age = 0", 'max-age = "1d"'))
    run_dry(tmp_path, cfg, env={"VFIOLINT_BOT_CLOCK_OFFSET": str(400 * 86400)})
    assert replies(tmp_path / "out") == []
    assert status(tmp_path / "state.sqlite")["series"] == {}


def test_maildir_and_stdin_mbox(tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for n, data in enumerate(botmail.dpdk_series(DPDK, 0)):
        path = maildir / "new" / f"17649{n:05d}.M{n}P1.host"
        path.write_bytes(data)
        os.utime(path, (1_764_900_000 + n, 1_764_900_000 + n))
    cfg = config(tmp_path)
    args = ["run", "--once", "--state", str(tmp_path / "md.sqlite"), "--config", str(cfg),
            "--dry-run", str(tmp_path / "md")]
    assert bot(*args, "--archive", str(maildir)).returncode == 0
    (maildir / "new" / "1764900000.M0P1.host").rename(maildir / "cur" /
                                                       "1764900000.M0P1.host:2,S")
    again = bot(*args, "--archive", str(maildir))
    assert again.stdout.startswith("vfiolint bot: 0 new message(s)"), again.stdout
    assert len(replies(tmp_path / "md")) == 1
    mbox = as_mbox(botmail.dpdk_series(DPDK, 0))
    args = ["run", "--once", "--archive", "-", "--state", str(tmp_path / "in.sqlite"),
            "--config", str(cfg), "--dry-run", str(tmp_path / "in")]
    proc = bot(*args, stdin=mbox)
    assert proc.returncode == 0 and proc.stdout.startswith(b"vfiolint bot: 6 new message(s)")
    assert bot(*args, stdin=mbox).stdout.startswith(b"vfiolint bot: 0 new message(s)")
    assert [r["In-Reply-To"] for r in replies(tmp_path / "in")] == [
        f"<{DPDK}-0-ravi.kumar@example.com>"]


def test_bad_setups_are_one_line_errors(tmp_path: Path) -> None:
    epoch(tmp_path, 0, botmail.dpdk_series(DPDK, 0))
    state = str(tmp_path / "s.sqlite")
    cases = {
        "needs --dry-run DIR, or an [smtp] host": ["--archive", str(tmp_path / "inbox")],
        "no such archive directory": ["--archive", str(tmp_path / "nope"), "--dry-run", "d"],
        "not a public-inbox archive": ["--archive", str(tmp_path), "--dry-run", "d"],
        "cannot poll standard input": ["--follow", "--archive", "-", "--dry-run", "d"],
        "--dry-run": ["--archive", str(tmp_path / "inbox"), "--dry-run",
                      str(tmp_path / "inbox" / "git" / "0.git" / "HEAD")],
    }
    for message, args in cases.items():
        proc = bot("run", "--state", state, *args)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    for text, message in [('[series]\nwait = "soon"\n', "expected a duration"),
                          ('[rules]\nignore = ["VFIO999"]\n', "unknown rule 'VFIO999'"),
                          ('[smtp]\nhost = "x"\non-crash = "maybe"\n', "'on-crash' must be"),
                          ('[bogus]\n', "unknown table [bogus]")]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        proc = bot("run", "--state", state, "--archive", str(tmp_path / "inbox"), "--config",
                   str(bad), "--dry-run", str(tmp_path / "d"))
        assert proc.returncode == 2 and message in proc.stderr, (text, proc.stderr)
    proc = bot("status", "--state", str(tmp_path / "missing.sqlite"))
    assert proc.returncode == 2 and "no such state file" in proc.stderr
    (tmp_path / "notes.txt").write_text("not a database, " * 100)
    for where in (tmp_path / "notes.txt", tmp_path / "no" / "such" / "dir.sqlite"):
        proc = bot("run", "--state", str(where), "--archive", str(tmp_path / "inbox"),
                   "--dry-run", str(tmp_path / "d"))
        assert proc.returncode == 2 and proc.stderr.startswith(f"vfiolint: {where}"), (
            proc.stderr)
        assert len(proc.stderr.splitlines()) == 1


# -- SMTP: a real server on 127.0.0.1


class Recorder:
    """An aiosmtpd handler that keeps what it accepts, after refusing ``refuse`` times."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.attempts = 0
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: SMTPServer, session: Session,
                          envelope: Envelope) -> str:
        self.attempts += 1
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        content = envelope.original_content or b""
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 2.0.0 Ok: queued"

    def message_ids(self) -> list[str]:
        """Return the Message-IDs received, in order."""
        return [str(email.message_from_bytes(c)["Message-ID"]) for _, _, c in self.received]


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    """Run a real SMTP server on a free port of 127.0.0.1."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def smtp_config(tmp_path: Path, port: int, extra: str = "") -> Path:
    """Write a configuration that sends through the test server."""
    return config(tmp_path, f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\n'
                            f'retry = "10m"\n{extra}', name="smtp.toml")


def run_smtp(tmp_path: Path, cfg: Path, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    """Run the bot once, sending through SMTP."""
    return bot("run", "--once", "--archive", str(tmp_path / "inbox"), "--state",
               str(tmp_path / "state.sqlite"), "--config", str(cfg), env=env)


def test_smtp_delivers_one_reply_per_series(tmp_path: Path, smtp: tuple[Recorder, int]) -> None:
    server, port = smtp
    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU) + botmail.dpdk_series(DPDK, 60))
    cfg = smtp_config(tmp_path, port)
    proc = run_smtp(tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    assert [(sender, rcpt) for sender, rcpt, _ in server.received] == [
        ("vfiolint@bot.example.org", ["jane.doe@example.org"]),
        ("vfiolint@bot.example.org", ["ravi.kumar@example.com"])]
    run_smtp(tmp_path, cfg)
    assert len(server.received) == 2


def test_sigkill_between_sending_and_recording_never_sends_twice(
        tmp_path: Path, smtp: tuple[Recorder, int]) -> None:
    server, port = smtp
    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU) + botmail.dpdk_series(DPDK, 60))
    cfg = smtp_config(tmp_path, port)
    crashed = run_smtp(tmp_path, cfg, env={"VFIOLINT_BOT_TEST_CRASH": "after-smtp"})
    assert crashed.returncode == -signal.SIGKILL
    assert len(server.received) == 1  # the server has it; the state does not know
    assert status(tmp_path / "state.sqlite")["replies"] == {"pending": 1, "sending": 1}
    restarted = run_smtp(tmp_path, cfg)
    assert restarted.returncode == 0, restarted.stderr
    run_smtp(tmp_path, cfg)
    ids = server.message_ids()
    assert len(ids) == 2 and len(set(ids)) == 2
    parents = sorted(str(email.message_from_bytes(c)["In-Reply-To"])
                     for _, _, c in server.received)
    assert parents == [f"<{QEMU}-0-jane.doe@example.org>", f"<{DPDK}-0-ravi.kumar@example.com>"]
    doc = status(tmp_path / "state.sqlite")
    assert doc["replies"] == {"sent": 1, "uncertain": 1}
    [uncertain] = doc["attention"]  # type: ignore[misc]
    assert f"<{uncertain['message_id']}>" == ids[0]


def test_sigkill_with_resend_policy_resends_under_the_same_message_id(
        tmp_path: Path, smtp: tuple[Recorder, int]) -> None:
    server, port = smtp
    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU))
    cfg = smtp_config(tmp_path, port, 'on-crash = "resend"\n')
    run_smtp(tmp_path, cfg, env={"VFIOLINT_BOT_TEST_CRASH": "after-smtp"})
    run_smtp(tmp_path, cfg)
    ids = server.message_ids()
    assert len(ids) == 2 and ids[0] == ids[1]  # at least once; receivers drop the duplicate
    assert status(tmp_path / "state.sqlite")["replies"] == {"sent": 1}


def test_sigkill_during_a_dry_run_writes_each_reply_once(tmp_path: Path) -> None:
    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU) + botmail.dpdk_series(DPDK, 60))
    cfg = config(tmp_path)
    crashed = run_dry(tmp_path, cfg, env={"VFIOLINT_BOT_TEST_CRASH": "after-smtp"})
    assert crashed.returncode == -signal.SIGKILL
    run_dry(tmp_path, cfg)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.eml")) == ["1.eml", "2.eml"]
    assert status(tmp_path / "state.sqlite")["replies"] == {"sent": 2}


def test_reply_seen_in_the_archive_is_confirmed(tmp_path: Path,
                                                smtp: tuple[Recorder, int]) -> None:
    server, port = smtp
    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU))
    cfg = smtp_config(tmp_path, port)
    run_smtp(tmp_path, cfg, env={"VFIOLINT_BOT_TEST_CRASH": "after-smtp"})
    run_smtp(tmp_path, cfg)
    assert status(tmp_path / "state.sqlite")["replies"] == {"uncertain": 1}
    epoch(tmp_path, 0, [server.received[0][2]])  # the list archived the bot's reply
    run_smtp(tmp_path, cfg)
    assert status(tmp_path / "state.sqlite")["replies"] == {"sent": 1}
    assert len(server.received) == 1


def test_refused_then_accepted_is_retried_with_backoff(tmp_path: Path,
                                                       smtp: tuple[Recorder, int]) -> None:
    server, port = smtp
    server.refuse = 2
    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU))
    cfg = smtp_config(tmp_path, port)  # retry after 10 min, then 20 min
    first = run_smtp(tmp_path, cfg)
    assert "1 to retry" in first.stdout and "451 4.3.0 Mailbox busy" in first.stderr
    run_smtp(tmp_path, cfg, env={"VFIOLINT_BOT_CLOCK_OFFSET": "9m"})  # not due yet
    assert server.attempts == 1
    run_smtp(tmp_path, cfg, env={"VFIOLINT_BOT_CLOCK_OFFSET": "10m"})
    assert server.attempts == 2
    run_smtp(tmp_path, cfg, env={"VFIOLINT_BOT_CLOCK_OFFSET": "29m"})  # 10 + 20 not reached
    assert server.attempts == 2
    done = run_smtp(tmp_path, cfg, env={"VFIOLINT_BOT_CLOCK_OFFSET": "30m"})
    assert "1 sent" in done.stdout
    assert server.attempts == 3 and len(server.received) == 1
    assert status(tmp_path / "state.sqlite")["replies"] == {"sent": 1}


def test_follow_mode_retries_until_the_server_accepts(tmp_path: Path,
                                                      smtp: tuple[Recorder, int]) -> None:
    server, port = smtp
    server.refuse = 2
    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU))
    cfg = smtp_config(tmp_path, port, '[poll]\nmin = 0.2\nmax = 1\n')
    cfg.write_text(cfg.read_text().replace('retry = "10m"', "retry = 0.3"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "vfiolint", "bot", "run", "--follow", "--archive",
         str(tmp_path / "inbox"), "--state", str(tmp_path / "state.sqlite"), "--config",
         str(cfg)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not server.received and time.monotonic() < deadline:
            time.sleep(0.1)
        # New mail while it follows: picked up at a later poll.
        epoch(tmp_path, 0, botmail.dpdk_series(DPDK, 60))
        while len(server.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert server.attempts == 4 and len(server.received) == 2
    assert b"451 4.3.0 Mailbox busy" in err
    assert status(tmp_path / "state.sqlite")["replies"] == {"sent": 2}


def test_starttls_and_login_from_the_environment(tmp_path: Path) -> None:
    import ssl

    from aiosmtpd.smtp import AuthResult, LoginPassword

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                           "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj",
                           "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                          capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip("openssl cannot make a test certificate")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server: object, session: object, envelope: object, mechanism: str,
                     data: object) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)

    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, authenticator=authenticate,
                            auth_require_tls=True, auth_required=True)
    controller.start()
    try:
        epoch(tmp_path, 0, botmail.dpdk_series(DPDK, 0))
        cfg = config(tmp_path, f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\n'
                               f'cafile = "{cert}"\nuser-env = "BOT_USER"\n'
                               'password-env = "BOT_PASSWORD"\n', name="tls.toml")
        wrong = run_smtp(tmp_path, cfg, env={"BOT_USER": "bot", "BOT_PASSWORD": "nope"})
        assert "1 to retry" in wrong.stdout and "535" in wrong.stderr
        right = run_smtp(tmp_path, cfg, env={"BOT_USER": "bot", "BOT_PASSWORD": "s3cret",
                                             "VFIOLINT_BOT_CLOCK_OFFSET": "2m"})
        assert "1 sent" in right.stdout, right.stderr
    finally:
        controller.stop()
    # smtplib tries each mechanism the server offers before it gives up on a password.
    assert set(logins) == {(b"bot", b"nope"), (b"bot", b"s3cret")}
    assert logins[-1] == (b"bot", b"s3cret")
    assert len(recorder.received) == 1


def test_a_second_run_on_a_busy_state_does_nothing(tmp_path: Path) -> None:
    import fcntl

    epoch(tmp_path, 0, botmail.qemu_series(1, QEMU))
    lock = (tmp_path / "state.sqlite.lock").open("a")
    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
    try:
        proc = run_dry(tmp_path, config(tmp_path))
    finally:
        lock.close()
    assert proc.returncode == 0 and "in use by another bot run" in proc.stderr
    assert replies(tmp_path / "out") == []


def test_encoded_names_and_subjects_survive_into_the_reply(tmp_path: Path) -> None:
    _, _, patch = botmail.qemu_series(1, QEMU)[3].partition(b"\n\n")
    head = ("From: =?UTF-8?q?J=C3=B6rg_R=C3=B6del?= <joro@example.org>\n"
            "To: qemu-devel@nongnu.org\n"
            "Subject: =?UTF-8?q?=5BPATCH=5D_vfio/region=3A_map_r=C3=A9gions_whole?=\n"
            "Date: Mon, 30 Nov 2026 09:00:00 +0000\nMessage-Id: <utf8-1@example.org>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
            "Content-Transfer-Encoding: 8bit\n\n")
    epoch(tmp_path, 0, [head.encode() + patch])
    run_dry(tmp_path, config(tmp_path))
    [reply] = replies(tmp_path / "out")
    assert reply["To"] == "Jörg Rödel <joro@example.org>"
    assert reply["Subject"] == "Re: [PATCH] vfio/region: map régions whole"
    assert reply["In-Reply-To"] == "<utf8-1@example.org>"
    assert reply["Content-Transfer-Encoding"] == "8bit"
    assert "On Mon, 30 Nov 2026 09:00:00 +0000, Jörg Rödel <joro@example.org> wrote:" in body(
        reply)
    assert "\n[PATCH] vfio/region: map régions whole\n" in body(reply)
    raw = next((tmp_path / "out").glob("*.eml")).read_bytes()
    assert raw.partition(b"\n\n")[0].isascii()  # the headers are encoded


# -- a configured tree: the series is read with the repository, as check --repo reads it
# (the header and driver of tests/test_trees.py)


def _git(repo: Path, *args: str) -> str:
    """Run git in a test repository."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "Jane Doe", "GIT_AUTHOR_EMAIL": "jane.doe@example.org",
           "GIT_COMMITTER_NAME": "Jane Doe", "GIT_COMMITTER_EMAIL": "jane.doe@example.org"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout


def _tree_series(tmp_path: Path) -> tuple[Path, list[bytes]]:
    """Build a repository whose main branch holds the header and the file, and a two-patch
    series on top of it (sent with a cover letter and base-commit), then forget the series."""
    repo = tmp_path / "tree"
    (repo / "include").mkdir(parents=True)
    (repo / "drivers").mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "include/bar.h").write_text(NARROW_H)
    (repo / "drivers/pci.c").write_text(PCI_C)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "checkout", "-q", "-b", "side")
    step1 = PCI_C + "\nint probe(void)\n{\n    return 0;\n}\n"
    (repo / "drivers/pci.c").write_text(step1)
    _git(repo, "commit", "-q", "-am", "pci: add probe")
    (repo / "drivers/pci.c").write_text(step1.replace(
        "    map->size = info->size;\n",
        "    map->size = info->size;\n    map->offset = info->offset;\n"))
    _git(repo, "commit", "-q", "-am", "pci: keep the region offset")
    out = tmp_path / "series"
    _git(repo, "format-patch", "-q", "--cover-letter", "--thread=shallow", "--base=main",
         "--to=dev@dpdk.org", "-o", str(out), "main..side")
    _git(repo, "checkout", "-q", "main")
    _git(repo, "branch", "-q", "-D", "side")
    return repo, [p.read_bytes() for p in sorted(out.glob("*.patch"))]


def test_with_a_tree_the_series_is_judged_on_whole_files_like_check_repo(
        tmp_path: Path) -> None:
    repo, messages = _tree_series(tmp_path)
    epoch(tmp_path, 0, messages)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = run_dry(tmp_path, config(tmp_path, f'[tree]\nrepo = "{repo}"\nbranch = "main"\n'),
                   env=env)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "out" / "series-1.json").read_text())
    base = _git(repo, "rev-parse", "main").strip()
    assert record["tree"]["mode"] == "tree" and record["tree"]["base"] == base
    found = [(f["rule"], f["status"], f["path"], f["line"], f["patch"]["subject"])
             for f in record["findings"]]
    assert found == [("VFIO003", "introduced", "drivers/pci.c", 8,
                      "[PATCH 2/2] pci: keep the region offset")]
    [reply] = replies(tmp_path / "out")
    # the series names its base (format-patch --base): the reply says so
    assert f"against its base-commit {base[:12]}" in " ".join(body(reply).split())
    # the same findings as check --repo on the same mbox
    mbox = tmp_path / "series.mbox"
    mbox.write_bytes(as_mbox(messages))
    checked = json.loads(subprocess.run(
        [sys.executable, "-m", "vfiolint", "check", "--format", "json", "--repo", str(repo),
         str(mbox)], capture_output=True, cwd=ROOT, check=False, env={**os.environ, **env}
    ).stdout)
    assert [(f["rule"], f["status"], f["path"], f["line"], f["patch"]["subject"])
            for f in checked["findings"]] == found
    # without the tree, the hunks alone do not show the narrow member: nothing to report
    plain = tmp_path / "plain"
    plain.mkdir()
    epoch(plain, 0, messages)
    assert run_dry(plain, config(plain)).returncode == 0
    record = json.loads((plain / "out" / "series-1.json").read_text())
    assert record["tree"]["mode"] == "hunks" and record["findings"] == []
