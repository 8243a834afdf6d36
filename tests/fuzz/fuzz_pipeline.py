#!/usr/bin/env python3
"""Fuzz vfiolint's whole pipeline in-process: bytes -> inputs.load -> analyse -> every report.

Usage::

    python tests/fuzz/fuzz_pipeline.py [libFuzzer flags] [corpus_dir ...]
    python tests/fuzz/fuzz_pipeline.py CRASH_FILE ...        # reproduce: run files, show tracebacks

With ``atheris`` installed the bytes come from libFuzzer (coverage guided); without it, or with
``--fallback``, a built-in mutator mangles the seeds the way mail mangles patches (truncation,
CRLF, quoting, wrapping, re-encoding, absurd hunk headers, NUL bytes, shuffled lines, byte
flips). The seeds default to the corpus under ``corpus/``.

Each input is also fed through a real pipe, in uneven pieces, and must read the same as from
bytes.

A crash is any exception other than vfiolint's own ``VfiolintError``, a report that is not valid
JSON or cannot be written to a UTF-8 stdout, an error message of more than one line, an input
that reads otherwise through a pipe, or a run
over the per-input time limit (``--limit``, default 5 s of CPU time, raised as ``Hang`` by
``SIGVTALRM``; a wall-clock backstop of 6x that catches code stuck in C). Crashes do not stop
the run: each distinct one (exception type + innermost vfiolint frame) is saved once to
``<artifacts>/crash-<sig>-<sha1>`` and logged; ``--stop-on-crash`` stops at the first.

The input name is part of the input: it is ``NAMES[len(data) % len(NAMES)]``, so a saved
reproducer replays with the same name.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import json
import os
import random
import re
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from vfiolint.errors import VfiolintError  # noqa: E402
from vfiolint.inputs import Loaded, load, load_stream  # noqa: E402
from vfiolint.policy import keep  # noqa: E402
from vfiolint.report import checkpatch, email_reply, github, json_doc, sarif  # noqa: E402
from vfiolint.rules.loader import load_rules  # noqa: E402
from vfiolint.run import _patch_ref, analyse  # noqa: E402,F401

NAMES = (
    "fuzz.patch",
    "fuzz.txt",
    "fuzz.c",
    "fuzz.h",
    "fuzz.mbox",
    "fuzz",
    "dir/\udcffname.patch",  # what a \xff byte in argv becomes (surrogateescape)
    "--output=x",
    "-",
)

RULES = load_rules()


class Hang(Exception):
    """The per-input time limit ran out."""


class PropertyViolation(Exception):
    """The pipeline returned, but what it returned breaks a promise."""


def name_for(data: bytes) -> str:
    """Return the input name a byte string is checked under."""
    return NAMES[len(data) % len(NAMES)]


def load_piped(name: str, data: bytes) -> Loaded:
    """Read data as ``load`` does, but through a real pipe, written in uneven pieces (their
    size follows from the data, so that a reproducer replays the same way)."""
    read_end, write_end = os.pipe()
    step = 1 + len(data) % 4093

    def write() -> None:
        try:
            with os.fdopen(write_end, "wb", buffering=0) as out:
                for at in range(0, len(data), step):
                    out.write(data[at:at + step])
        except BrokenPipeError:
            pass  # the reader stopped early (an error): what it read is what counts

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with os.fdopen(read_end, "rb") as stream:
        parts = list(load_stream(name, stream, True))
    writer.join()
    return Loaded(name, tuple(p for part in parts for p in part.patches),
                  next((part.source for part in parts if part.source is not None), None),
                  tuple(e for part in parts for e in part.errors))


def _same_reading(one: Loaded, other: Loaded) -> bool:
    """Tell whether two readings of an input found the same patches, source and errors."""
    return (one.patches, one.source, [str(e) for e in one.errors]) == (
        other.patches, other.source, [str(e) for e in other.errors])


def run_pipeline(data: bytes, name: str | None = None) -> str:
    """Do what ``vfiolint check --format json`` does for one input; return the JSON document.

    Mirrors cli.run_check, without its catch-all: any exception but VfiolintError escapes."""
    name = name_for(data) if name is None else name
    findings = []
    errors: list[tuple[str, str]] = []
    patches = {}
    try:
        loaded = load(name, data, True)
        if not _same_reading(loaded, load_piped(name, data)):
            raise PropertyViolation("read through a pipe, the input gives another result")
        patches.update({(p.input, p.index): p for p in loaded.patches})
        errors += [(name, str(e)) for e in loaded.errors]
        findings += analyse(loaded, RULES)[0]
    except VfiolintError as exc:
        errors.append((name, str(exc)))
    findings = keep(findings)
    doc = json_doc.render(findings, errors)
    # The other reports, for coverage: each must render too.
    others = [
        sarif.render(findings, errors, RULES),
        github.render(findings, errors),
        checkpatch.render(findings, errors),
        email_reply.render(findings, patches, ["vfiolint", "check"]),
    ]
    # Promises: valid JSON, writable to a UTF-8 stdout, one-line errors.
    parsed = json.loads(doc)
    reports = ("json", "sarif", "github", "checkpatch", "email")
    for report, text in zip(reports, (doc, *others), strict=True):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            # Tell a surrogate from the input's name (argv) from one out of its content.
            origin = "content"
            try:
                text.replace(name, "NAME").encode("utf-8")
                origin = "name"
            except UnicodeEncodeError:
                pass
            raise PropertyViolation(
                f"{report} report not writable to a UTF-8 stdout ({origin}): {exc}") from exc
    json.loads(others[0])
    for err in parsed["errors"]:
        if "\n" in err["message"] or "\r" in err["message"]:
            raise PropertyViolation(f"multi-line error message: {err['message']!r}")
    return doc


# --- time limits -------------------------------------------------------------------------------

LIMIT = 5.0


def _on_limit(signum, frame):
    raise Hang(f"input ran over {LIMIT:g} s of CPU time")


def run_limited(data: bytes) -> str:
    """Run the pipeline under the CPU-time limit (SIGVTALRM)."""
    signal.setitimer(signal.ITIMER_VIRTUAL, LIMIT)
    try:
        return run_pipeline(data)
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)


# --- crash bookkeeping -------------------------------------------------------------------------

class Crashes:
    """Save each distinct crash once, log them all."""

    def __init__(self, artifacts: Path, stop: bool) -> None:
        self.artifacts = artifacts
        self.stop = stop
        self.seen: dict[str, int] = {}
        artifacts.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def signature(exc: BaseException) -> str:
        frames = traceback.extract_tb(exc.__traceback__)
        own = [f for f in frames if "/vfiolint/" in f.filename] or frames[-1:]
        where = f"{Path(own[-1].filename).stem}.{own[-1].name}" if own else "?"
        text = str(exc)
        if isinstance(exc, PropertyViolation):
            where += "-" + re.sub(r"\W+", "_", text.split(":")[0])[:60]
        return re.sub(r"[^\w.-]", "_", f"{type(exc).__name__}-{where}")

    def record(self, data: bytes, exc: BaseException) -> None:
        sig = self.signature(exc)
        count = self.seen.get(sig, 0)
        self.seen[sig] = count + 1
        if count == 0:
            sha = hashlib.sha1(data).hexdigest()[:16]
            path = self.artifacts / f"crash-{sig}-{sha}"
            path.write_bytes(data)
            print(f"\n=== NEW CRASH {sig} ({len(data)} bytes, name {name_for(data)!r}) -> {path}",
                  file=sys.stderr)
            traceback.print_exception(exc, file=sys.stderr)
            sys.stderr.flush()
        if self.stop:
            raise SystemExit(1)


# --- the fallback mutator ----------------------------------------------------------------------

def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def mutate(data: bytes, seeds: list[bytes], rng: random.Random) -> bytes:
    """Mangle data the way mail and archives mangle patches, plus plain byte noise."""
    ops = [
        lambda d: d[: rng.randrange(len(d) + 1)],
        lambda d: d.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
        lambda d: d.replace(b"\t", b" " * rng.choice((1, 4, 8))),
        lambda d: b"\n".join(_wrap(x, rng.choice((72, 60, 40, 10))) for x in _lines(d)),
        lambda d: b"\n".join(rng.choice((b"> ", b">> ", b"> > ", b">")) + x for x in _lines(d)),
        lambda d: _quote_some(d, rng),
        lambda d: re.sub(rb"@@ -\d+(,\d+)? \+\d+(,\d+)? @@",
                         rng.choice((b"@@ -999999999,0 +1,99999999 @@", b"@@ -0,0 +0,0 @@",
                                     b"@@ -1,-1 +1 @@", b"@@ -18446744073709551616 +1,9 @@",
                                     b"@@@ -1,3 -1,3 +1,4 @@@")), d, count=rng.randint(1, 3)),
        lambda d: _insert(d, rng, b"\x00" * rng.randint(1, 3)),
        lambda d: _reencode(d, rng),
        lambda d: b"\n".join(_dup_shuffle(_lines(d), rng)),
        lambda d: _insert(d, rng, bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))),
        lambda d: _flip(d, rng),
        lambda d: d + b"\n" + rng.choice(seeds),
        lambda d: _splice(d, rng.choice(seeds), rng),
        lambda d: _insert(d, rng, rng.choice(TOKENS)),
        lambda d: _delete_lines(d, rng),
    ]
    for _ in range(rng.randint(1, 4)):
        data = rng.choice(ops)(data)
    return data[: 1 << 20]


TOKENS = (
    b"\ndiff --git a/x.c b/x.c\n", b"\n--- a/x.c\n+++ b/x.c\n", b"\n@@ -1,3 +1,3 @@ f(void)\n",
    b"\n-- \n", b"\n---\n", b"\nFrom nobody Mon Jan  1 00:00:00 2024\nFrom: a <a@b>\nSubject: [PATCH] x\n\n",
    b"Content-Transfer-Encoding: base64\n", b"Content-Type: multipart/mixed; boundary=\"b\"\n",
    b"Content-Type: text/plain; charset=\"x-unknown\"\n", b"=?utf-8?b?/w==?=", b"=\n", b"=FF",
    b"/*", b"*/", b"{", b"}", b"(", b")", b"\"", b"'", b"\\", b"#define X \\\n", b"\xff\xfe",
    b"\xfe\xff", b"\xef\xbb\xbf", b"\xa0", b"\x0c", b"\x1b[31m", b"\r", "\u2028".encode(),
    b"\x85", b"\n\\ No newline at end of file\n", b"Binary files a/x b/x differ\n", b"\nrename from a\nrename to b\n",
    b"<pre>", b"</pre>", b"&lt;", b"<html>", b"mmap(", b"VFIO_IOMMU_MAP_DMA", b"MAP_PRIVATE",
)


def _wrap(line: bytes, width: int) -> bytes:
    if len(line) <= width:
        return line
    cut = line.rfind(b" ", 0, width)
    cut = cut if cut > 0 else width
    return line[:cut] + b"\n" + _wrap(line[cut:].lstrip(b" "), width)


def _quote_some(d: bytes, rng: random.Random) -> bytes:
    lines = _lines(d)
    a = rng.randrange(len(lines) + 1)
    b = rng.randrange(a, len(lines) + 1)
    prefix = rng.choice((b"> ", b">> ", b"> > "))
    return b"\n".join(lines[:a] + [prefix + x for x in lines[a:b]] + lines[b:])


def _insert(d: bytes, rng: random.Random, what: bytes) -> bytes:
    at = rng.randrange(len(d) + 1)
    return d[:at] + what + d[at:]


def _flip(d: bytes, rng: random.Random) -> bytes:
    if not d:
        return d
    b = bytearray(d)
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def _reencode(d: bytes, rng: random.Random) -> bytes:
    text = d.decode("utf-8", "replace")
    enc = rng.choice(("latin-1", "utf-16", "utf-16-le", "utf-16-be", "cp1252", "utf-32"))
    return text.encode(enc, "replace")


def _dup_shuffle(lines: list[bytes], rng: random.Random) -> list[bytes]:
    if not lines:
        return lines
    if rng.random() < 0.5:
        i = rng.randrange(len(lines))
        j = rng.randrange(i, min(len(lines), i + 20) + 1)
        return lines[:j] + lines[i:j] * rng.randint(1, 3) + lines[j:]
    i = rng.randrange(len(lines))
    j = rng.randrange(i, min(len(lines), i + 30) + 1)
    part = lines[i:j]
    rng.shuffle(part)
    return lines[:i] + part + lines[j:]


def _splice(d: bytes, other: bytes, rng: random.Random) -> bytes:
    return d[: rng.randrange(len(d) + 1)] + other[rng.randrange(len(other) + 1):]


def _delete_lines(d: bytes, rng: random.Random) -> bytes:
    lines = _lines(d)
    if len(lines) < 2:
        return d
    i = rng.randrange(len(lines))
    j = rng.randrange(i, min(len(lines), i + 10) + 1)
    return b"\n".join(lines[:i] + lines[j:])


# --- drivers -----------------------------------------------------------------------------------

def read_seeds(dirs: list[str]) -> list[bytes]:
    seeds = []
    for d in dirs:
        p = Path(d)
        files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file()
                                              and x.suffix != ".toml")
        seeds += [f.read_bytes() for f in files]
    return seeds or [b""]


def fallback(dirs: list[str], max_time: float, runs: int, seed: int, crashes: Crashes) -> None:
    """Mutate corpus seeds at random until time or runs run out."""
    seeds = read_seeds(dirs)
    rng = random.Random(seed)
    current = crashes.artifacts / f"current-{os.getpid()}"
    start = time.monotonic()
    execs = 0
    last = start
    pool = list(seeds)
    while (not max_time or time.monotonic() - start < max_time) and (not runs or execs < runs):
        data = mutate(rng.choice(pool), seeds, rng)
        current.write_bytes(data)  # for the wall-clock backstop, which cannot raise
        faulthandler.dump_traceback_later(LIMIT * 6, exit=True)
        try:
            run_limited(data)
            if rng.random() < 0.05 and len(pool) < 2000:
                pool.append(data)  # mutants of mutants
        except VfiolintError:
            pass
        except Exception as exc:
            crashes.record(data, exc)
        finally:
            faulthandler.cancel_dump_traceback_later()
        execs += 1
        now = time.monotonic()
        if now - last >= 30:
            last = now
            print(f"#{execs} fallback: {execs / (now - start):.1f} exec/s, "
                  f"{now - start:.0f} s, crashes {dict(crashes.seen)}", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - start
    current.unlink(missing_ok=True)
    print(f"Done {execs} runs in {elapsed:.0f} second(s); crashes {dict(crashes.seen)}",
          file=sys.stderr, flush=True)


def with_atheris(argv: list[str], crashes: Crashes) -> None:
    """Hand over to libFuzzer; a crash is recorded and the run goes on."""
    import atheris

    stats = {"execs": 0, "start": time.monotonic()}

    def one_input(data: bytes) -> None:
        stats["execs"] += 1
        try:
            run_limited(data)
        except VfiolintError:
            pass
        except Exception as exc:
            crashes.record(data, exc)

    import atexit

    atexit.register(lambda: print(
        f"Done {stats['execs']} runs in {time.monotonic() - stats['start']:.0f} second(s); "
        f"crashes {dict(crashes.seen)}", file=sys.stderr, flush=True))
    atheris.instrument_all()  # Python coverage feedback for everything imported so far
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def reproduce(files: list[str]) -> int:
    """Run saved inputs and show what each does."""
    status = 0
    for f in files:
        data = Path(f).read_bytes()
        print(f"--- {f} ({len(data)} bytes, name {name_for(data)!r})", file=sys.stderr)
        t = time.monotonic()
        try:
            run_limited(data)
            print(f"ok in {time.monotonic() - t:.2f} s", file=sys.stderr)
        except VfiolintError as exc:
            print(f"VfiolintError (fine): {exc}", file=sys.stderr)
        except Exception:
            traceback.print_exc()
            status = 1
    return status


def main() -> int:
    global LIMIT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=True)
    parser.add_argument("--fallback", action="store_true", help="do not use atheris")
    parser.add_argument("--limit", type=float, default=5.0, help="CPU seconds per input")
    parser.add_argument("--artifacts", default="/tmp/fuzz/crashes", help="where crashes go")
    parser.add_argument("--stop-on-crash", action="store_true")
    parser.add_argument("--seed", type=int, default=None, help="fallback mode RNG seed")
    own, rest = parser.parse_known_args()
    LIMIT = own.limit
    signal.signal(signal.SIGVTALRM, _on_limit)
    flags = [a for a in rest if a.startswith("-")]
    paths = [a for a in rest if not a.startswith("-")]
    if paths and all(Path(p).is_file() for p in paths):
        return reproduce(paths)
    crashes = Crashes(Path(own.artifacts), own.stop_on_crash)
    try:
        import atheris  # noqa: F401
        have_atheris = not own.fallback
    except ImportError:
        have_atheris = False
    if have_atheris:
        if not paths:
            # libFuzzer writes new inputs into the first directory: never into corpus/.
            out = Path(own.artifacts).parent / "corpus"
            out.mkdir(parents=True, exist_ok=True)
            paths = [str(out), str(ROOT / "corpus")]
        if not any(f.startswith("-timeout=") for f in flags):
            flags.append(f"-timeout={int(LIMIT * 6)}")  # wall-clock backstop (SIGALRM)
        if not any(f.startswith("-artifact_prefix=") for f in flags):
            flags.append(f"-artifact_prefix={own.artifacts.rstrip('/')}/")
        if not any(f.startswith("-max_len=") for f in flags):
            flags.append("-max_len=65536")
        with_atheris([sys.argv[0], *flags, *paths], crashes)
        return 0
    opts = dict(re.match(r"-(\w+)=(.*)", f).groups() for f in flags if re.match(r"-(\w+)=", f))
    seed = own.seed if own.seed is not None else int(time.time())
    print(f"fallback mode (atheris {'disabled' if own.fallback else 'not installed'}), seed {seed}",
          file=sys.stderr)
    fallback(paths or [str(ROOT / "corpus")], float(opts.get("max_total_time", 0)),
             int(opts.get("runs", 0)), seed, crashes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
