"""Inputs that are not regular files: standard input, named pipes, process substitution,
devices. Each is read incrementally within its limits and its time budget, and ends as one
error for itself at worst; every other input is still analysed.

Each test runs the CLI as a user would and asserts its peak RSS (``ru_maxrss`` of the
children of a small wrapper process, which stays clean of this test process's own size), its
wall time, the exact error line, and the findings of the other inputs."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT, run_cli
from vfiolint.inputs import expand
from vfiolint.inputs.stream import chunks
from vfiolint.limits import MIB, Limits

SEED = "corpus/linux/2015-msix-table-mmap-eeh-rfc.txt"
SEED_FINDING = ("VFIO005", "introduced", "drivers/vfio/pci/vfio_pci.c", 877)
MAIL_SEED = ROOT / "corpus/qemu/2017-only-mmap-target-page-size-regions-reverse.patch"
MAIL_FINDING = ("VFIO002", "introduced", "hw/misc/vfio.c", 2577)
TOO_LONG = "skipped: too large (over 64 MiB, limit 64 MiB; not read further)"

# Runs a command and writes the peak RSS of its process tree (KiB) to the file named first.
# A child inherits the peak of the process it was forked from, so the command must not be
# started from this (large) test process directly.
WRAPPER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


@dataclass(frozen=True)
class Result:
    """What one measured run of the CLI did."""

    code: int
    found: list[tuple[object, ...]]
    errors: list[str]
    stderr: str
    seconds: float
    rss_mib: float


def vfiolint(*args: str) -> list[str]:
    """Return the command line of ``vfiolint check --format json ARGS``."""
    return [sys.executable, "-m", "vfiolint", "check", "--format", "json", *args]


def measured(command: list[str], tmp_path: Path, feed: Iterator[bytes] | None = None,
             during: object = None) -> Result:
    """Run a command under the wrapper, feeding its standard input from ``feed`` if given;
    ``during(proc)`` is called while it runs."""
    rss_file = tmp_path / "rss"
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", WRAPPER, str(rss_file), *command],
                            stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    writer = None
    if feed is not None:
        writer = threading.Thread(target=_write_all, args=(proc.stdin, feed), daemon=True)
        proc.stdin = None  # the writer's: communicate() would close it
        writer.start()
    if callable(during):
        during(proc)
    out, err = proc.communicate(timeout=120)
    seconds = time.monotonic() - start
    if writer is not None:
        writer.join(timeout=30)
    doc = json.loads(out)
    found = [(f["rule"], f["status"], f["path"], f["line"]) for f in doc["findings"]]
    return Result(proc.returncode, found, [e["message"] for e in doc["errors"]],
                  err.decode(), seconds, int(rss_file.read_text()) / 1024)


def _write_all(pipe: io.BufferedWriter, feed: Iterator[bytes]) -> None:
    """Write every block to a pipe until the reader goes away."""
    try:
        for block in feed:
            pipe.write(block)
        pipe.close()
    except (BrokenPipeError, ValueError):
        pass


def assert_one_error_line(result: Result, line: str) -> None:
    """The run printed exactly this error, on one line of standard error, and no traceback."""
    assert result.errors == [line]
    assert result.stderr == f"vfiolint: {line}\n"


def open_writer(fifo: Path, seconds: float = 30) -> int:
    """Open a named pipe for writing once a reader has it open (without blocking for ever)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        os.set_blocking(fd, True)
        return fd


def mbox_of(*messages: bytes) -> bytes:
    """Join whole messages into an mbox."""
    return b"".join(messages)


def oversized_message(mib: int) -> Iterator[bytes]:
    """Yield an mbox message of ``mib`` MiB of text lines, a block at a time."""
    yield b"From 1 Mon Sep 17 00:00:00 2001\nFrom: B <b@example.org>\nSubject: [PATCH] y\n\n"
    line = b"x" * 1023 + b"\n"
    for _ in range(mib):
        yield line * 1024


# --- the shapes, from the user's side --------------------------------------------------------

def test_standard_input_and_a_file(tmp_path: Path) -> None:
    result = measured(vfiolint("-", SEED), tmp_path, iter([MAIL_SEED.read_bytes()]))
    assert (result.code, result.errors, result.stderr) == (1, [], "")
    assert result.found == [MAIL_FINDING, SEED_FINDING]
    assert result.rss_mib < 100 and result.seconds < 20


def test_named_pipe_with_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "incoming.mbox"
    os.mkfifo(fifo)

    def write(proc: subprocess.Popen[bytes]) -> None:
        fd = open_writer(fifo)
        os.write(fd, MAIL_SEED.read_bytes())
        os.close(fd)

    result = measured(vfiolint(str(fifo), SEED), tmp_path, during=write)
    assert (result.code, result.errors, result.stderr) == (1, [], "")
    assert result.found == [MAIL_FINDING, SEED_FINDING]
    assert result.rss_mib < 100 and result.seconds < 20


def test_named_pipe_without_a_writer_ends_at_the_time_budget(tmp_path: Path) -> None:
    fifo = tmp_path / "nobody.patch"
    os.mkfifo(fifo)
    result = measured(vfiolint("--timeout", "1", str(fifo), SEED), tmp_path)
    assert result.code == 2 and result.found == [SEED_FINDING]
    assert_one_error_line(result, f"{fifo}: skipped: too slow (over 1 s)")
    assert result.rss_mib < 100 and result.seconds < 10


def test_named_pipe_whose_writer_stalls_ends_at_the_time_budget(tmp_path: Path) -> None:
    fifo = tmp_path / "stalled.patch"
    os.mkfifo(fifo)
    held: list[int] = []

    def stall(proc: subprocess.Popen[bytes]) -> None:
        held.append(open_writer(fifo))
        os.write(held[0], MAIL_SEED.read_bytes()[:500])  # half a message, then nothing

    try:
        result = measured(vfiolint("--timeout", "1", str(fifo), SEED), tmp_path, during=stall)
    finally:
        for fd in held:
            os.close(fd)
    assert result.code == 2 and result.found == [SEED_FINDING]
    assert_one_error_line(result, f"{fifo}: skipped: too slow (over 1 s)")
    assert result.rss_mib < 100 and result.seconds < 10


def test_process_substitution(tmp_path: Path) -> None:
    command = " ".join(vfiolint(f"<(cat {MAIL_SEED})", "<(head -c 200000000 /dev/zero)", SEED))
    result = measured(["bash", "-c", command], tmp_path)
    assert result.code == 2
    assert result.found == [MAIL_FINDING, SEED_FINDING]
    assert len(result.errors) == 1
    assert re.fullmatch(rf"/dev/fd/\d+: {re.escape(TOO_LONG)}", result.errors[0])
    assert result.stderr == f"vfiolint: {result.errors[0]}\n"
    assert result.rss_mib < 100 and result.seconds < 10


def test_dev_zero(tmp_path: Path) -> None:
    result = measured(vfiolint("/dev/zero", SEED), tmp_path)
    assert result.code == 2 and result.found == [SEED_FINDING]
    assert_one_error_line(result, f"/dev/zero: {TOO_LONG}")
    assert result.rss_mib < 100 and result.seconds < 5


def test_large_mbox_on_standard_input(tmp_path: Path) -> None:
    """A 130 MiB mbox: a patch, a 70 MiB message, then 60 MiB of resends of the patch."""
    seed = MAIL_SEED.read_bytes()

    def feed() -> Iterator[bytes]:
        yield seed
        yield from oversized_message(70)
        for n in range(60 * MIB // len(seed)):
            yield seed.replace(b"\nSubject:", f"\nMessage-ID: <{n}@x>\nSubject:".encode(), 1)

    result = measured(vfiolint("-", SEED), tmp_path, feed())
    assert result.code == 2
    assert result.found == [MAIL_FINDING, SEED_FINDING]
    assert_one_error_line(result, "-: message 2: skipped: too large (70.0 MiB, limit 64 MiB)")
    # one message of at most 64 MiB is held at a time, never the stream
    assert result.rss_mib < 64 + 80 and result.seconds < 60


def test_large_non_mail_stream_on_standard_input(tmp_path: Path) -> None:
    """300 MB of text with no message boundary stops at the limit, not at the end."""
    line = b"a line of text that is neither mail nor C, " * 2 + b"\n"
    block = line * 10_000
    result = measured(vfiolint("-", SEED), tmp_path,
                      iter([block] * (300_000_000 // len(block))))
    assert result.code == 2 and result.found == [SEED_FINDING]
    assert_one_error_line(result, f"-: {TOO_LONG}")
    assert result.rss_mib < 64 + 80 and result.seconds < 20


def test_mbox_message_that_never_ends_ends_at_the_time_budget(tmp_path: Path) -> None:
    """Past an mbox From line the next message is sought beyond an oversized one: without an
    end, only the time budget stops that search, and memory stays flat meanwhile."""
    def feed() -> Iterator[bytes]:
        yield b"From x Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\nSubject: x\n\n"
        while True:
            yield b"\0" * (1 << 20)

    result = measured(vfiolint("--timeout", "2", "-", SEED), tmp_path, feed())
    assert result.code == 2 and result.found == [SEED_FINDING]
    assert_one_error_line(result, "-: skipped: too slow (over 2 s)")
    assert result.rss_mib < 100 and result.seconds < 10


def test_directory_walk_skips_pipes_sockets_and_devices(tmp_path: Path) -> None:
    tree = tmp_path / "patches"
    tree.mkdir()
    (tree / "0001-good.patch").write_bytes(MAIL_SEED.read_bytes())
    os.mkfifo(tree / "0002-pipe.patch")
    (tree / "0003-zero.patch").symlink_to("/dev/zero")
    os.mkfifo(tree / "README")  # not a name vfiolint reads: left alone, like a README file
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tree / "0004-socket.mbox"))
        result = measured(vfiolint(str(tree), SEED), tmp_path)
    assert result.code == 2
    assert result.found == [MAIL_FINDING, SEED_FINDING]
    assert result.errors == [
        f"{tree}/0002-pipe.patch: skipped: a named pipe, not a regular file",
        f"{tree}/0003-zero.patch: skipped: a character device, not a regular file",
        f"{tree}/0004-socket.mbox: skipped: a socket, not a regular file",
    ]
    assert result.rss_mib < 100 and result.seconds < 20


# --- the memory guard and dying workers ------------------------------------------------------

def greedy_patch(path: Path) -> None:
    """Write a 3 MiB patch whose analysis needs about 200 MiB."""
    head = ("From 0 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\nSubject: [PATCH] x\n\n"
            "---\ndiff --git a/hw/vfio/x.c b/hw/vfio/x.c\n--- a/hw/vfio/x.c\n+++ b/hw/vfio/x.c\n")
    line = ("+    if (info->flags & VFIO_REGION_INFO_FLAG_MMAP) {{ x{j} = mmap(0, info->size, 0, 0,"
            " fd, info->offset); }}\n")
    hunks = (f"@@ -{i * 300 + 1},0 +{i * 300 + 1},300 @@ static int f{i}(void)\n"
             + "".join(line.format(j=j) for j in range(300)) for i in range(100))
    path.write_text(head + "".join(hunks))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_memory_limit_skips_the_runaway_input_only(tmp_path: Path, jobs: str) -> None:
    big = tmp_path / "greedy.patch"
    greedy_patch(big)
    # with two jobs, the corpus makes enough inputs for a pool of two workers
    others = ["corpus"] if jobs == "2" else [SEED]
    alone = measured(vfiolint("-j", jobs, *others), tmp_path)
    result = measured(vfiolint("-j", jobs, "--memory-limit", "100", "--timeout", "0", str(big),
                               *others), tmp_path)
    assert result.code == 2 and result.found == alone.found
    assert SEED_FINDING in result.found
    assert_one_error_line(result, f"{big}: skipped: too large (over the memory limit of 100 MiB)")
    assert result.rss_mib < 100 + 50 and result.seconds < 30


def test_a_file_that_takes_its_worker_down_costs_its_message_only(tmp_path: Path) -> None:
    """One input: this process reads it, the C model runs in a worker; the file that outgrows
    the worker is its message's error, and the next message is judged by a new worker."""
    mbox = tmp_path / "thread.mbox"
    greedy_patch(tmp_path / "greedy.patch")
    mbox.write_bytes((tmp_path / "greedy.patch").read_bytes() + b"\n" + MAIL_SEED.read_bytes())
    result = measured(vfiolint("-j", "1", "--memory-limit", "100", "--timeout", "0", str(mbox)),
                      tmp_path)
    assert result.code == 2 and result.found == [MAIL_FINDING]
    assert_one_error_line(result, f"{mbox}: skipped: too large (over the memory limit of 100 MiB)")


def test_a_series_no_rule_wants_forks_no_worker(tmp_path: Path) -> None:
    """Patches whose files no rule wants are read and judged here: no worker is forked, so
    not even a 1 MiB memory limit (which any forked worker exceeds at once) stops them."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=A", "-c", "user.email=a@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    for i in range(150):
        (repo / "ring.c").write_text("".join(f"int ring_{j}(int n) {{ return n + {j}; }}\n"
                                             for j in range(i + 1)))
        subprocess.run([*git, "add", "ring.c"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", f"ring: helper {i}"], check=True)
    series = subprocess.run([*git, "format-patch", "--stdout", "--root", "HEAD"], check=True,
                            capture_output=True).stdout
    mbox = tmp_path / "series.mbox"
    mbox.write_bytes(series)
    result = measured(vfiolint("-j", "1", "--memory-limit", "1", str(mbox)), tmp_path)
    assert (result.code, result.errors, result.found) == (0, [], [])
    # ... while a worker, once forked, is stopped by that limit (a VFIO file needs the C model)
    greedy = tmp_path / "greedy.patch"
    greedy_patch(greedy)
    limited = measured(vfiolint("-j", "1", "--memory-limit", "1", "--timeout", "0", str(mbox),
                                str(greedy)), tmp_path)
    assert limited.code == 2
    assert limited.errors == [f"{greedy}: skipped: too large (over the memory limit of 1 MiB)"]


def _readers_of(path: Path) -> list[int]:
    """Return the processes (other than this one) that have ``path`` open."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if any(fd.readlink() == path for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_killed_worker_costs_its_input_only(tmp_path: Path) -> None:
    """The out-of-memory killer picks a worker: its input is an error, the run goes on."""
    fifo = tmp_path / "victim.patch"
    os.mkfifo(fifo)
    held: list[int] = []
    killed: list[int] = []

    def kill_its_reader(proc: subprocess.Popen[bytes]) -> None:
        held.append(open_writer(fifo))
        os.write(held[0], MAIL_SEED.read_bytes()[:500])
        deadline = time.monotonic() + 30
        while not (readers := _readers_of(fifo)) and time.monotonic() < deadline:
            time.sleep(0.01)
        for pid in readers:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    alone = measured(vfiolint("-j", "2", "corpus"), tmp_path)
    try:
        result = measured(vfiolint("-j", "2", "--timeout", "60", "corpus", str(fifo)), tmp_path,
                          during=kill_its_reader)
    finally:
        for fd in held:
            os.close(fd)
    assert len(killed) == 1
    assert result.code == 2 and result.found == alone.found and len(alone.found) > 10
    assert_one_error_line(
        result, f"{fifo}: skipped: its worker process was killed (SIGKILL; out of memory?)")
    assert result.seconds < 30


# --- reading, as a unit ----------------------------------------------------------------------

class Endless(io.RawIOBase):
    """A stream that never ends (like /dev/zero), counting what is read from it."""

    def __init__(self, byte: bytes) -> None:
        self.byte, self.served = byte, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = len(buffer)
        buffer[:size] = self.byte * size
        self.served += size
        return size


@pytest.mark.parametrize("byte", [b"\0", b"x", b"\n"])
def test_endless_stream_is_read_to_its_limit_and_one_line_only(byte: bytes) -> None:
    limits = Limits(message_bytes=4 * MIB, line_bytes=64 * 1024)
    raw = Endless(byte)
    found = list(chunks(io.BufferedReader(raw, 8192), "endless", limits))
    assert [(c.number, c.data, str(c.error)) for c in found] == [
        (1, b"", "endless: skipped: too large (over 4 MiB, limit 4 MiB; not read further)")]
    assert limits.message_bytes < raw.served <= limits.message_bytes + limits.line_bytes + 8192


LINES = st.sampled_from([
    b"From a Mon Sep 17 00:00:00 2001\n", b"From: A <a@example.org>\n", b"Subject: x\n", b"\n",
    b"diff --git a/x.c b/x.c\n", b"+int x;\n", b"x" * 300 + b"\n", b"no newline", b"\0\0\n",
])


def _piped(data: bytes, sizes: list[int], limits: Limits) -> list[tuple[int, bytes, str]]:
    """Read data through a real pipe, written in pieces of the given sizes."""
    read_end, write_end = os.pipe()

    def write() -> None:
        with contextlib.suppress(BrokenPipeError), os.fdopen(write_end, "wb",
                                                              buffering=0) as out:
            at, turn = 0, 0
            while at < len(data):  # the reader may stop early, at a limit
                step = sizes[turn % len(sizes)]
                out.write(data[at:at + step])
                at, turn = at + step, turn + 1

    thread = threading.Thread(target=write)
    thread.start()
    with os.fdopen(read_end, "rb") as stream:
        out = [(c.number, c.data, str(c.error)) for c in chunks(stream, "p", limits)]
    thread.join()
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, max_size=30), st.lists(st.integers(1, 700), min_size=1, max_size=5),
       st.sampled_from([(10**6, 10**6), (2000, 10**6), (2000, 200), (600, 100)]))
def test_a_pipe_reads_like_bytes(lines: list[bytes], sizes: list[int],
                                 bounds: tuple[int, int]) -> None:
    """Through a pipe in any pieces, an input splits into the same messages as from bytes;
    within the limits, the messages put together are the input."""
    data = b"".join(lines)
    limits = Limits(message_bytes=bounds[0], line_bytes=bounds[1])
    whole = [(c.number, c.data, str(c.error)) for c in chunks(io.BytesIO(data), "p", limits)]
    assert _piped(data, sizes, limits) == whole
    if all(error == "None" for _, _, error in whole):
        assert b"".join(part for _, part, _ in whole) == data
        assert all(part.startswith(b"From ") for _, part, _ in whole[1:])


def test_expand_names_special_files_only_where_they_would_be_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "a.patch")
    os.mkfifo(tmp_path / "notes")
    (tmp_path / "b.patch").write_text("x")
    (tmp_path / ".hidden.patch").symlink_to("/dev/zero")
    entries = expand([str(tmp_path), "/dev/zero", "-"])
    assert [(e.name, e.named, e.skip) for e in entries] == [
        (f"{tmp_path}/a.patch", False, f"{tmp_path}/a.patch: skipped: a named pipe, not a "
                                       "regular file"),
        (f"{tmp_path}/b.patch", False, None),
        ("/dev/zero", True, None),
        ("-", True, None),
    ]


def test_negative_memory_limit_is_a_usage_error() -> None:
    proc = run_cli("check", "--memory-limit", "-5", SEED)
    assert proc.returncode == 2
    assert proc.stderr.decode() == "vfiolint: --memory-limit must be a number of MiB, or 0 for none\n"
