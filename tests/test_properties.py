"""Hostile and broken input: never a traceback, never a hang, nothing lost.

Property tests (hypothesis) over the readers and the whole pipeline:

* random bytes into ``inputs.load`` and the pipeline return a ``Loaded`` (errors, not raises);
* corpus documents mangled the way mail, archives and users mangle them (truncation, CRLF, tabs,
  wrapping, quoting, absurd hunk headers, NUL bytes, Latin-1 and UTF-16, duplicated and shuffled
  lines, odd file names) keep ``vfiolint check --format json``'s promises: exit 0, 1 or 2, one
  valid JSON document on stdout, one-line errors;
* the same input gives byte-identical JSON twice (and under another hash seed);
* an mbox of good messages plus one garbage message reports the good ones' findings unchanged.

The default profile keeps the file fast; ``VFIOLINT_HYPOTHESIS_PROFILE=long`` runs many more
examples (``ci`` sits in between).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from vfiolint import cli
from vfiolint.errors import VfiolintError
from vfiolint.inputs import Loaded, load
from vfiolint.inputs.mail import change_items
from vfiolint.policy import keep
from vfiolint.report import json_doc
from vfiolint.rules.loader import load_rules
from vfiolint.run import analyse

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture]}
settings.register_profile("default", max_examples=40, **_COMMON)
settings.register_profile("ci", max_examples=200, **_COMMON)
settings.register_profile("long", max_examples=3000, **_COMMON)
settings.load_profile(os.environ.get("VFIOLINT_HYPOTHESIS_PROFILE", "default"))


def _examples(n: int) -> int:
    """Scale a test's example count with the profile (default: ``n``)."""
    return max(n, n * settings.default.max_examples // 40)


CORPUS = ROOT / "corpus"
DOCUMENTS = sorted(p for p in CORPUS.rglob("*")
                   if p.is_file() and p.suffix not in {".toml", ".md"})
DOCUMENT_BYTES = {p: p.read_bytes() for p in DOCUMENTS}
RULES = load_rules()


# --- the pipeline, in-process ------------------------------------------------------------------

def pipeline(name: str, data: bytes) -> tuple[Loaded, str]:
    """Load and analyse one input as ``run_check`` does, without its catch-all; return the
    Loaded and the JSON report."""
    loaded = load(name, data)
    errors = [(name, str(e)) for e in loaded.errors]
    findings = keep(analyse(loaded, RULES)[0])
    return loaded, json_doc.render(findings, errors)


def one_line(message: str) -> bool:
    """Tell whether an error message is one line: no line break anywhere, trailing included."""
    return message.strip() != "" and len(message.splitlines()) == 1 and not re.search(
        r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]", message)


def check_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``cli.main`` and check the promises every run keeps, whatever its input.

    Returns the exit code, stdout and stderr."""
    capsys.readouterr()
    code = cli.main(args)
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), code
    assert "Traceback" not in err, err
    # One JSON document, writable as UTF-8 (RFC 8259): no lone surrogates from odd bytes.
    out.encode("utf-8")
    doc = json.loads(out)
    assert set(doc) >= {"version", "tool", "findings", "errors"}
    for error in doc["errors"]:
        assert error["message"].strip(), error
        assert one_line(error["message"]), error["message"]
    for line in err.splitlines():
        assert line.startswith("vfiolint: "), err
    assert (code == 2) == bool(doc["errors"]), (code, doc["errors"])
    return code, out, err


def no_internal_errors(out: str) -> None:
    """A crash inside vfiolint surfaces as an "internal error": never acceptable."""
    internal = [e["message"] for e in json.loads(out)["errors"] if "internal error" in e["message"]]
    assert internal == []


# --- (a) random bytes --------------------------------------------------------------------------

NAMES = st.sampled_from(["x.patch", "x.txt", "x.c", "x.h", "x.mbox", "x", "a\udcffb.patch",
                         "--output=x", "dir/x.diff"])


@settings(max_examples=_examples(500))
@given(name=NAMES, data=st.binary(max_size=4096))
def test_random_bytes_load(name: str, data: bytes) -> None:
    loaded = load(name, data)
    assert isinstance(loaded, Loaded)
    for error in loaded.errors:
        assert isinstance(error, VfiolintError)
        assert one_line(str(error)), str(error)


TEXTISH = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=2000)
DIFFY_LINES = st.lists(st.one_of(
    st.sampled_from([
        "diff --git a/x.c b/x.c", "--- a/x.c", "+++ b/x.c", "--- /dev/null", "+++ /dev/null",
        "@@ -1,3 +1,4 @@ int f(void)", "@@ -999999999,0 +1,99999999 @@", "@@ -0,0 +0,0 @@",
        "@@ -1 +1 @@", "@@@ -1,2 -1,2 +1,3 @@@", "-- ", "--", "---", "\\ No newline at end of file",
        "From nobody Mon Jan  1 00:00:00 2024", "From: a <a@b.c>", "Subject: [PATCH 1/2] x",
        "Date: Mon, 1 Jan 2024 00:00:00 +0000", "Message-ID: <a@b>", "",
        "Content-Transfer-Encoding: base64", "Content-Type: multipart/mixed; boundary=z",
        "--z", "--z--", " {", " }", "+}", "-{", "+\tif (info->flags & VFIO_REGION_INFO_FLAG_MMAP) {",
        "+\tp = mmap(NULL, info->size, PROT_READ, MAP_SHARED, fd, info->offset);",
        "+\tuint32_t off = region.offset;", "> diff --git a/y.c b/y.c", ">> @@ -1 +1 @@",
        "/*", "*/", "#define X \\", "\"", "'",
    ]),
    st.text(max_size=80).map(lambda s: s.replace("\n", " ")),
    st.text(max_size=80).map(lambda s: "+" + s.replace("\n", " ")),
    st.text(max_size=80).map(lambda s: " " + s.replace("\n", " ")),
), max_size=60).map("\n".join)


def _no_newline(b: bytes) -> bytes:
    return b.replace(b"\n", b" ").replace(b"\r", b" ")


# Diff-shaped bytes that are not UTF-8: Latin-1 code, names and macros, cut multibyte sequences.
DIFFY_BYTES = st.lists(st.one_of(
    DIFFY_LINES.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40).map(lambda b: b"+" + _no_newline(b)),
    st.binary(max_size=40).map(lambda b: b"+#define VFIO_REGION_" + _no_newline(b)),
    st.binary(max_size=40).map(lambda b: b"+\tuint32_t off = reg.offset; /* " + _no_newline(b)),
    st.binary(max_size=12).map(lambda b: b"--- a/" + _no_newline(b) + b".c\n+++ b/"
                               + _no_newline(b) + b".c\n@@ -1,2 +1,3 @@ f(void)"),
), max_size=30).map(b"\n".join)


@settings(max_examples=_examples(400))
@given(name=NAMES, data=st.one_of(
    st.binary(max_size=4096),
    TEXTISH.map(lambda s: s.encode("utf-8")),
    DIFFY_LINES.map(lambda s: s.encode("utf-8", "surrogatepass")),
    DIFFY_BYTES,
))
# Minimised fuzzer finds (tests/fuzz): a cut UTF-8 sequence in a macro name (surfacing as
# UnicodeDecodeError, or as SystemError in the next predicate), a path that is not
# UTF-8, a "+++" path with a space.
@example(name="-", data=b"--- \n+++ .c\n@@ -5 +1 @@\n+#define VFIO_GET_REGION()\xcd\n\n")
@example(name="x.patch", data=b">>diff --git c .c\n>>@@ -5 +1 @@\n>>+#define VFIO_GET_REGION()\x82\n>>  G(\n")
@example(name="x.c", data=b"--- \n+++ \x96.c\n@@ -6 +8 @@\n+e&VFIO_DEVICE_FLAGS_MSIX\n\n\n\n\n\n")
@example(name="x.txt", data=b"--- \n+++ r b/c\n@@ -0 +0 @@\n+")
def test_random_bytes_pipeline(name: str, data: bytes) -> None:
    loaded, out = pipeline(name, data)
    assert isinstance(loaded, Loaded)
    json.loads(out)
    out.replace(name, "NAME").encode("utf-8")  # content alone never yields lone surrogates
    for error in json.loads(out)["errors"]:
        assert one_line(error["message"]), error["message"]


# --- (b) mangled corpus documents through the CLI ----------------------------------------------

Mangle = Callable[[bytes], bytes]


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _wrap(line: bytes, width: int) -> list[bytes]:
    out = []
    while len(line) > width:
        cut = line.rfind(b" ", 0, width)
        cut = cut if cut > 0 else width
        out.append(line[:cut])
        line = line[cut:].lstrip(b" ")
    return [*out, line]


@st.composite
def mangles(draw: st.DrawFn) -> Mangle:
    """One way of damaging a document; its parameters drawn now, applied later."""
    kind = draw(st.sampled_from([
        "truncate", "crlf", "tabs", "wrap72", "quote", "quote_some", "hunk_header", "nul",
        "latin1", "latin1_comments", "utf16", "duplicate", "shuffle", "bytes",
    ]))
    fraction = draw(st.floats(0, 1))
    other = draw(st.floats(0, 1))
    if kind == "truncate":
        return lambda d: d[: int(len(d) * fraction)]
    if kind == "crlf":
        return lambda d: d.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if kind == "tabs":
        width = draw(st.sampled_from([1, 4, 8]))
        return lambda d: d.replace(b"\t", b" " * width)
    if kind == "wrap72":
        return lambda d: b"\n".join(x for line in _lines(d) for x in _wrap(line, 72))
    if kind == "quote":
        prefix = draw(st.sampled_from([b"> ", b">> ", b"> > ", b">"]))
        return lambda d: b"\n".join(prefix + x for x in _lines(d))
    if kind == "quote_some":
        prefix = draw(st.sampled_from([b"> ", b">> "]))

        def quote_some(d: bytes) -> bytes:
            lines = _lines(d)
            a = int(len(lines) * min(fraction, other))
            b = int(len(lines) * max(fraction, other))
            return b"\n".join(lines[:a] + [prefix + x for x in lines[a:b]] + lines[b:])
        return quote_some
    if kind == "hunk_header":
        header = draw(st.sampled_from([
            b"@@ -999999999,0 +1,99999999 @@", b"@@ -0,0 +0,0 @@", b"@@ -1,99999999 +1 @@",
            b"@@ -99999999999999999999999 +1,3 @@", b"@@ -1,0 +999999999,0 @@ f(void)",
        ]))
        count = draw(st.integers(0, 3))
        return lambda d: re.sub(rb"@@ -\d+(,\d+)? \+\d+(,\d+)? @@", header, d, count=count)
    if kind == "nul":
        nuls = draw(st.sampled_from([b"\x00", b"\x00\x00\x00"]))
        return lambda d: d[: int(len(d) * fraction)] + nuls + d[int(len(d) * fraction):]
    if kind == "latin1":
        return lambda d: d.decode("utf-8", "replace").encode("latin-1", "replace")
    if kind == "latin1_comments":
        # A Latin-1 author name in C comments, as old trees and mail clients leave them.
        step = draw(st.integers(1, 8))
        return lambda d: b"\n".join(x + b" /* Andr\xe9 M\xfcller */" if i % step == 0 else x
                                    for i, x in enumerate(_lines(d)))
    if kind == "utf16":
        codec = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be"]))
        return lambda d: d.decode("utf-8", "replace").encode(codec, "surrogatepass")
    if kind == "duplicate":
        def duplicate(d: bytes) -> bytes:
            lines = _lines(d)
            a = int(len(lines) * fraction)
            b = min(len(lines), a + 1 + int(20 * other))
            return b"\n".join(lines[:b] + lines[a:b] + lines[b:])
        return duplicate
    if kind == "shuffle":
        rnd = draw(st.randoms(use_true_random=False))

        def shuffle(d: bytes) -> bytes:
            lines = _lines(d)
            a = int(len(lines) * fraction)
            b = min(len(lines), a + 2 + int(30 * other))
            part = lines[a:b]
            rnd.shuffle(part)
            return b"\n".join(lines[:a] + part + lines[b:])
        return shuffle
    noise = draw(st.binary(min_size=1, max_size=16))
    return lambda d: d[: int(len(d) * fraction)] + noise + d[int(len(d) * fraction):]


@st.composite
def mangled_documents(draw: st.DrawFn) -> bytes:
    """A corpus document with one to four kinds of damage."""
    data = DOCUMENT_BYTES[draw(st.sampled_from(DOCUMENTS))]
    for mangle in draw(st.lists(mangles(), min_size=1, max_size=4)):
        data = mangle(data)
    return data


FILE_NAMES = ["doc.patch", "doc.txt", "doc.mbox", "doc.c", "doc", "odd\udcffname.patch",
              "\udcff\udcfe.txt", "--output=x", "--format=sarif.patch", "-x.patch",
              " lead space.patch", "new\nline.patch", "tab\there.txt", "cr\rname.patch"]


def write_input(directory: Path, name: str, data: bytes) -> Path:
    """Write an input under a name that may hold undecodable bytes or look like an option."""
    path = directory / name
    path.write_bytes(data)
    return path


@settings(max_examples=_examples(200))
@given(data=mangled_documents())
def test_mangled_corpus_cli(tmp_path_factory: pytest.TempPathFactory,
                            capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    path = write_input(tmp_path_factory.mktemp("in"), "doc.patch", data)
    _, out, _ = check_json(["check", "--format", "json", str(path)], capsys)
    no_internal_errors(out)


@example(data=b"--- \n+++ vfio.c\n@@ -5 +4 @@\xd8\n+pcim_p2pdma_provider(\n", fmt="email")
@settings(max_examples=_examples(150))
@given(data=mangled_documents(), fmt=st.sampled_from(["sarif", "github", "checkpatch", "email",
                                                      "console"]))
def test_mangled_corpus_every_format(tmp_path_factory: pytest.TempPathFactory,
                                     capsys: pytest.CaptureFixture[str], data: bytes,
                                     fmt: str) -> None:
    """Every report can be written to a UTF-8 stdout (capsys is strict, as a UTF-8 terminal
    or pipe is outside the C locale), whatever bytes the input held."""
    path = write_input(tmp_path_factory.mktemp("fmt"), "doc.patch", data)
    capsys.readouterr()
    code = cli.main(["check", "--format", fmt, str(path)])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2)
    assert "Traceback" not in err
    assert "internal error" not in err, err  # e.g. a report that could not be written
    out.encode("utf-8")
    if fmt == "sarif":
        json.loads(out)


@settings(max_examples=_examples(150))
@given(data=mangled_documents())
def test_mangled_corpus_pipeline(data: bytes) -> None:
    """The same documents in-process, with no catch-all: any exception is a bug."""
    for name in ("doc.patch", "doc.c", "doc"):
        _, out = pipeline(name, data)
        json.loads(out)
        out.replace(name, "NAME").encode("utf-8")


@pytest.mark.parametrize("name", FILE_NAMES, ids=ascii)
@settings(max_examples=_examples(6))
@given(data=st.one_of(st.sampled_from(DOCUMENTS).map(DOCUMENT_BYTES.__getitem__),
                      mangled_documents(), st.binary(max_size=64)))
def test_odd_file_names(tmp_path_factory: pytest.TempPathFactory,
                        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                        name: str, data: bytes) -> None:
    """Names with undecodable bytes (``\\xff`` arrives as a surrogate in argv), names that look
    like options (after ``--``), names with spaces and newlines."""
    directory = tmp_path_factory.mktemp("names")
    write_input(directory, name, data)
    monkeypatch.chdir(directory)
    _, out, _ = check_json(["check", "--format", "json", "--", name], capsys)
    no_internal_errors(out)


@settings(max_examples=_examples(20))
@given(name=st.sampled_from(["--output=x", "--format=sarif.patch", "-x.patch"]),
       data=st.sampled_from(DOCUMENTS).map(DOCUMENT_BYTES.__getitem__))
def test_option_like_names_without_separator(tmp_path_factory: pytest.TempPathFactory,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch,
                                             name: str, data: bytes) -> None:
    """Without ``--`` an option-like name is a usage error or an input; never a traceback."""
    directory = tmp_path_factory.mktemp("opts")
    write_input(directory, name, data)
    monkeypatch.chdir(directory)
    capsys.readouterr()
    code = cli.main(["check", "--format", "json", name])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2)
    assert "Traceback" not in err
    assert all(line.startswith("vfiolint: ") for line in err.splitlines()), err
    if out:
        json.loads(out)


# --- (c) determinism ---------------------------------------------------------------------------

@settings(max_examples=_examples(80))
@given(data=st.one_of(mangled_documents(), st.sampled_from(DOCUMENTS).map(DOCUMENT_BYTES.get)))
def test_same_input_same_json(tmp_path_factory: pytest.TempPathFactory,
                              capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    path = write_input(tmp_path_factory.mktemp("det"), "doc.txt", data)
    first = check_json(["check", "--format", "json", str(path)], capsys)
    second = check_json(["check", "--format", "json", str(path)], capsys)
    assert first == second


def test_same_json_under_other_hash_seeds() -> None:
    """Set and dict order must not leak into the report: two processes, two hash seeds."""
    outs = []
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-m", "vfiolint", "check", "--format", "json",
                               "corpus"], cwd=ROOT, env=env, capture_output=True, timeout=120,
                              check=False)
        assert proc.returncode in (0, 1), proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1]


# --- (d) nothing lost --------------------------------------------------------------------------

def _single_messages() -> list[Path]:
    """Corpus documents that are exactly one mbox message with findings of their own."""
    out = []
    for path, data in DOCUMENT_BYTES.items():
        if not data.startswith(b"From ") or data.count(b"\nFrom ") or b"\x00" in data:
            continue
        loaded, report = pipeline("doc", data)
        if loaded.errors or len(loaded.patches) != 1 or not json.loads(report)["findings"]:
            continue
        out.append(path)
    return out


GOOD = _single_messages()


def findings_alone(data: bytes) -> list[tuple[object, ...]]:
    """Return what matters of one input's findings, independent of its name and patch index."""
    _, report = pipeline("series.mbox", data)
    return sorted(_essence(f) for f in json.loads(report)["findings"])


def _essence(f: dict[str, object]) -> tuple[object, ...]:
    patch = f["patch"] or {}
    assert isinstance(patch, dict)
    return (f["rule"], f["status"], f["path"], f["line"], f["end_line"], f["column"],
            f["message"], f["fingerprint"], f["function"], f["confidence"],
            patch.get("subject"), patch.get("message_id"))


GARBAGE_BODIES = st.one_of(
    st.binary(max_size=2000).filter(lambda b: b"\x00" not in b),
    TEXTISH.map(lambda s: s.encode("utf-8")),
    DIFFY_LINES.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from(DOCUMENTS).map(DOCUMENT_BYTES.__getitem__).flatmap(
        lambda d: st.integers(0, len(d)).map(lambda n: d[:n])),  # a message cut short
)
GARBAGE_HEADERS = st.lists(st.sampled_from([
    b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Type: multipart/mixed; boundary=\"zz\"", b"Content-Type: text/plain; charset=x-bogus",
    b"Content-Type: text/x-patch; name=\"a.patch\"", b"Content-Type: text/html",
    b"Subject: =?utf-8?b?////?=", b"Subject: [PATCH 99999999999999999999/0] x",
    b"Message-ID: <<<>>>", b"Date: yesterday [garbage]", b"MIME-Version: 1.0",
]), max_size=4)


GARBAGE_SUBJECT = "[PATCH] garbage"


@st.composite
def garbage_messages(draw: st.DrawFn) -> bytes:
    """One broken message, as an mbox entry: a From line and headers, then anything (no NUL)."""
    headers = [b"From garbage@example.com Mon Jan  1 00:00:00 2024", b"From: Garbage <g@example.com>",
               b"Subject: " + GARBAGE_SUBJECT.encode(), b"Date: Mon, 1 Jan 2024 00:00:00 +0000",
               *draw(GARBAGE_HEADERS)]
    body = draw(GARBAGE_BODIES)
    body = re.sub(rb"(?m)^From ", b">From ", body)  # as mboxo quoting does
    return b"\n".join(headers) + b"\n\n" + body.rstrip(b"\n") + b"\n"


def _distinct(paths: list[Path]) -> bool:
    """Tell whether no message's change is contained in another's (a repeat is dropped by
    design, and would not be "lost")."""
    items = [change_items(load("x", DOCUMENT_BYTES[p]).patches[0].files) for p in paths]
    return all(not (a <= b) for i, a in enumerate(items) for j, b in enumerate(items) if i != j)


@pytest.mark.skipif(len(GOOD) < 2, reason="needs two single-message corpus documents")
@settings(max_examples=_examples(100))
@given(picked=st.lists(st.sampled_from(GOOD), min_size=1, max_size=4, unique=True),
       garbage=garbage_messages(), where=st.integers(0, 4))
def test_garbage_message_loses_nothing(picked: list[Path], garbage: bytes, where: int) -> None:
    assume(_distinct(picked))
    # A garbage message that carries a whole copy of a good one takes its place by design
    # (drop_repeats keeps one copy, the fullest first seen): not a loss.
    own = [change_items(p.files) for p in load("g", garbage).patches]
    assume(not any(change_items(load("x", DOCUMENT_BYTES[p]).patches[0].files) <= items
                   for p in picked for items in own))
    messages = [DOCUMENT_BYTES[p].rstrip(b"\n") + b"\n" for p in picked]
    want = sorted(x for m in messages for x in findings_alone(m))
    messages.insert(min(where, len(messages)), garbage)
    got = findings_alone(b"\n".join(messages))
    # The garbage's own findings may differ from its findings alone (a cut hunk goes on into
    # the blank line that separates mbox messages); what matters is the good messages'.
    assert [x for x in got if x[10] != GARBAGE_SUBJECT] == want


@pytest.mark.skipif(len(GOOD) < 1, reason="needs a single-message corpus document")
@settings(max_examples=_examples(50))
@given(picked=st.lists(st.sampled_from(GOOD), min_size=1, max_size=3, unique=True),
       garbage=st.binary(min_size=1, max_size=200), where=st.integers(0, 3))
def test_binary_message_loses_nothing(picked: list[Path], garbage: bytes, where: int) -> None:
    """A message holding binary bytes (NUL included, as an attachment gone wrong would) is that
    message's problem; the other messages of the mbox still count."""
    assume(_distinct(picked))
    messages = [DOCUMENT_BYTES[p].rstrip(b"\n") + b"\n" for p in picked]
    want = sorted(x for m in messages for x in findings_alone(m))
    bad = (b"From garbage@example.com Mon Jan  1 00:00:00 2024\nFrom: G <g@example.com>\n"
           b"Subject: [PATCH] binary\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\n"
           + b"\x00" + re.sub(rb"(?m)^From ", b">From ", garbage) + b"\n")
    messages.insert(min(where, len(messages)), bad)
    got = findings_alone(b"\n".join(messages))
    assert got == want
