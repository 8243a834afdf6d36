"""One run of ``vfiolint check``: read every input (or commit), analyse it, collect the outcome.

Pure orchestration, no printing: ``cli`` turns the Outcome into a report and an exit code.
Work is done per input or per commit, in this process or in worker processes (``--jobs``;
the C model of mailed inputs always, unless ``--memory-limit 0``), and a failure is always
the error of the one input, message or commit it happened in, even one that takes its worker
process down.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from vfiolint.config import Config
from vfiolint.coverage import Coverage
from vfiolint.errors import Skipped, VfiolintError
from vfiolint.findings import Finding, HeadPlace, PatchRef, Status
from vfiolint.inputs import Entry, InputReader, Loaded, expand, open_input
from vfiolint.inputs.stream import chunks, deadline
from vfiolint.limits import Limits, memory_budget
from vfiolint.model import FileDiff, LineKind, Patch, is_c_path
from vfiolint.policy import keep
from vfiolint.rules.loader import Rule, rules_holding

if TYPE_CHECKING:
    from rich.progress import Progress

    from vfiolint.coverage import FileCoverage
    from vfiolint.inputs.context import Context
    from vfiolint.inputs.git import BrokenCommit, GitPatch, LoggedCommit, Wanted
    from vfiolint.inputs.images import SourceUnit, UnitPair
    from vfiolint.inputs.stream import Budget
    from vfiolint.inputs.trees import Series
    from vfiolint.parallel import WorkerSetup
    from vfiolint.rules.keywords import KeywordSet

log = logging.getLogger(__name__)

# Below this many inputs or commits, more than one worker process costs more than it saves.
MIN_PARALLEL = 32
# Seconds a message's budget is stretched for a worker that judges one of its files, before
# this process stops it: the worker's own deadline fires first, unless it is deep in C code.
BUDGET_GRACE = 1.0


@dataclass
class Outcome:
    """Everything a run found."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    inputs: int = 0  # files and standard input read (a directory counts its files)
    mailed: int = 0  # patches found in those inputs
    sources: int = 0  # C files among those inputs
    commits: int = 0  # commits of a --git range
    staged: int = 0  # 1 when a staged change was read
    recognised: set[str] = field(default_factory=set)  # inputs holding a patch, mail or C
    patches: dict[tuple[str, int], Patch] = field(default_factory=dict)
    coverage: list[Coverage] = field(default_factory=list)
    keep_hunks: bool = False  # only the email report quotes hunks; others need the headers

    def merge(self, other: Outcome) -> None:
        """Add another outcome's results after this one's."""
        self.findings += other.findings
        self.errors += other.errors
        self.inputs += other.inputs
        self.mailed += other.mailed
        self.sources += other.sources
        self.commits += other.commits
        self.staged += other.staged
        self.recognised |= other.recognised
        self.patches.update(other.patches)
        self.coverage += other.coverage

    def remember(self, patch: Patch) -> None:
        """Keep what the report needs of a patch (its hunks only for the email report)."""
        self.patches[(patch.input, patch.index)] = (
            patch if self.keep_hunks else replace(patch, files=(), message=""))


def _patch_ref(patch: Patch) -> PatchRef:
    """Describe a patch for its findings."""
    return PatchRef(patch.input, patch.index, patch.subject, patch.msgid, patch.commit)


def waive_by_trailers(findings: list[Finding], patch: Patch, rules: list[Rule]) -> list[Finding]:
    """Mark the findings a patch's ``Vfiolint-Waive:`` trailers accept: those in code the
    patch changed, i.e. introduced ones, and present ones on a line the patch rewrote.

    A present hazard elsewhere in a touched function, or a fixed one, is not the patch's to
    accept: an inline waiver in the code is the way to accept it for good."""
    from vfiolint.rules.loader import rule_names
    from vfiolint.waivers import trailer_waivers

    waived = trailer_waivers(patch.trailers, patch.label, rule_names(rules))
    if not waived:
        return findings
    added = {f.path: {x.new for h in f.hunks for x in h.lines if x.kind is LineKind.ADDED}
             for f in patch.files}

    def changed(f: Finding) -> bool:
        lines = added.get(f.path, set())
        return f.status is Status.INTRODUCED or (
            f.status is Status.PRESENT and any(n in lines for n in range(f.line, f.end_line + 1)))

    return [replace(f, waiver=waived.get(f.rule) or waived.get(f.name))
            if f.waiver is None and changed(f) else f for f in findings]


def analyse(loaded: Loaded, rules: list[Rule], config: Config | None = None,
            context: Context | None = None, series: Series | None = None,
            judge: Judge | None = None) -> tuple[list[Finding], list[Coverage]]:
    """Run the rules over one loaded input; say, per patch or source file, what was read.

    ``context`` gives a C file inside a git work tree that tree; ``series`` builds whole-file
    images of patches from their repository (``--repo``); ``judge`` runs the C model on each
    file worth it (default: here, ``judged``)."""
    config = config or Config()
    judge = judge or partial(judged, rules=rules, context=context)
    findings: list[Finding] = []
    coverage: list[Coverage] = []
    if loaded.source is not None:
        found, cov = judge((loaded.source, loaded.input, None, config.for_files(), 0))
        findings += found
        coverage.append(Coverage(loaded.input, None, (cov,)))
    for patch in loaded.patches:
        pairs = (((pair, None) for pair in series.pairs(patch)) if series is not None
                 else _read_pairs(patch, rules, config))
        patch_findings, patch_coverage = _patch_results(patch, pairs, rules, config, judge)
        findings += patch_findings
        coverage.append(patch_coverage)
    return findings, coverage


# One file to judge: a pair of images, or a source file (a C file read alone, given its
# tree here when ``context`` has one); the input it came from; its patch; the configuration;
# the patch's hunks in it.
Judging = tuple["UnitPair | SourceUnit", str, "PatchRef | None", Config, int]
Judge = Callable[[Judging], "tuple[list[Finding], FileCoverage]"]


def judged(work: Judging, rules: list[Rule], context: Context | None = None
           ) -> tuple[list[Finding], FileCoverage]:
    """Run the C model and the rules on one file (``Judging``), in this process."""
    from vfiolint.inputs.images import SourceUnit
    from vfiolint.rules.engine import check_source, compare  # the C model: for a file worth it

    subject, input_name, ref, config, hunks = work
    if isinstance(subject, SourceUnit):
        unit = subject
        if context is not None and context.index:
            unit = context.source_unit(unit, input_name)
        return check_source(unit, rules, input_name, config)
    return compare(subject, rules, input_name, ref, config, hunks)


PairOrSkip = tuple["UnitPair | None", "FileCoverage | None"]


def _read_pairs(patch: Patch, rules: list[Rule], config: Config) -> Iterator[PairOrSkip]:
    """Yield each C file's hunk images, or the coverage of a file not worth building them for:
    a hunk image is made of the hunks' lines only, so without a rule's keyword there nothing
    in it could match."""
    from vfiolint.coverage import FileCoverage

    for f in patch.files:
        if not is_c_path(f.path) or not f.hunks:
            continue
        if hunks_wanted(f, rules, config):
            from vfiolint.inputs.images import hunk_pair  # the C model, for a file worth it

            yield hunk_pair(f), None
        else:
            yield None, FileCoverage.unread(f)


def hunks_wanted(f: FileDiff, rules: list[Rule], config: Config) -> bool:
    """Tell whether some rule can match a file's hunk images: the keyword pre-filter on the
    hunks' lines (without parsing anything)."""
    # The @@ sections count: the image names its synthetic function after them.
    text = "\n".join([f.path, *(h.section for h in f.hunks), *(x.text for h in f.hunks
                                                               for x in h.lines)])
    found = _keyword_set(rules).scan(text.encode("utf-8", "surrogateescape"))
    return bool(rules_holding(rules, f.path, config, found))


def _patch_results(patch: Patch, pairs: Iterable[PairOrSkip], rules: list[Rule],
                   config: Config, judge: Judge | None = None
                   ) -> tuple[list[Finding], Coverage]:
    """Compare every image pair of a patch, waive what its trailers accept, and say what was
    read; the same for a mailed patch and for a commit."""
    ref = _patch_ref(patch)
    hunks = {f.path: len(f.hunks) for f in patch.files}
    judge = judge or partial(judged, rules=rules)
    findings: list[Finding] = []
    files: list[FileCoverage] = []
    for pair, skipped in pairs:
        if pair is None:
            assert skipped is not None
            files.append(skipped)
            continue
        found, cov = judge((pair, patch.input, ref, config, hunks.get(pair.path, 0)))
        findings += found
        files.append(cov)
    return (waive_by_trailers(moved(findings, patch.files), patch, rules),
            Coverage(patch.input, ref, tuple(files), len(patch.files)))


def moved(findings: list[Finding], files: Iterable[FileDiff] = ()) -> list[Finding]:
    """Pair a hazard the patch removes from one function (or file) with the same hazard it
    adds in another: code that moved keeps its hazard, which is present, not fixed there and
    introduced here (a refactor is no fix).

    A hazard outside any function (a macro, a global's initialiser) is in its lines alone: one
    the patch adds on lines it removes, word for word, elsewhere is present too, even when the
    place it left reported its uses instead (a ``#define`` moved into a header)."""
    from vfiolint.findings import Status

    gone: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        if f.status is Status.FIXED and f.key:
            gone.setdefault((f.rule, f.key), []).append(f)
    # Lines are gathered only when a hazard outside any function may have moved with them.
    placing = any(f.status is Status.INTRODUCED and f.function is None for f in findings)
    removed, added = _moved_lines(files) if placing else (Counter(), {})
    out: list[Finding] = []
    paired: set[int] = set()
    for f in findings:
        if f.status is Status.INTRODUCED and gone.get((f.rule, f.key)):
            old = gone[(f.rule, f.key)].pop(0)
            paired.add(id(old))
            out.append(replace(f, status=Status.PRESENT))
        elif f.status is Status.INTRODUCED and f.function is None and _moved_here(
                f, removed, added):
            out.append(replace(f, status=Status.PRESENT))
        else:
            out.append(f)
    return [f for f in out if id(f) not in paired]


def _moved_lines(files: Iterable[FileDiff]) -> tuple[Counter[str], dict[tuple[str, int], str]]:
    """Return the lines a patch removes (their words, counted) and the lines it adds (by file
    and post-image line)."""
    removed: Counter[str] = Counter()
    added: dict[tuple[str, int], str] = {}
    for f in files:
        for line in (x for h in f.hunks for x in h.lines):
            if line.kind is LineKind.REMOVED:
                removed[" ".join(line.text.split())] += 1
            elif line.kind is LineKind.ADDED and line.new is not None:
                added[(f.path, line.new)] = " ".join(line.text.split())
    return removed, added


def _moved_here(f: Finding, removed: Counter[str], added: dict[tuple[str, int], str]) -> bool:
    """Tell whether every line of a finding is a line the patch adds that it also removes
    elsewhere (each removed line moves once)."""
    words = [added.get((f.path, n)) for n in range(f.span.line, f.span.end_line + 1)]
    if not words or not all(words):  # a line the patch does not add, or a blank one
        return False
    need = Counter(w for w in words if w)
    if any(removed[w] < n for w, n in need.items()):
        return False
    removed.subtract(need)
    return True


def _git_findings(git_patch: GitPatch, rules: list[Rule], config: Config,
                  outcome: Outcome) -> list[Finding]:
    """Run the rules over one commit's whole-file image pairs, recording what was read."""
    findings, coverage = _patch_results(git_patch.patch, git_patch.pairs, rules, config)
    outcome.coverage.append(coverage)
    return findings


def _progress(total: int) -> Progress | None:
    """Return a progress bar on a terminal, None elsewhere."""
    if total < 2 or not sys.stderr.isatty():
        return None
    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(file=sys.stderr), transient=True)


@dataclass(frozen=True, slots=True)
class Task:
    """How to analyse one piece of work, the same in this process and in a pool worker."""

    timeout: float
    debug: bool
    keep_hunks: bool
    limits: Limits = field(default_factory=Limits)
    memory: float | None = None  # MiB a worker may reach; None: a share of the machine; 0: any
    cache_root: Path | None = None  # the index's cache (None: none); opened when a tree is
    cache_writable: bool | None = None  # ... known writable or not (None: find out then)
    index: bool = True  # attach the repository index to units that have a tree
    repo: Path | None = None  # patches are read with this repository (--repo)
    base: str | None = None  # ... on this base when their own does not fit (--base)

    def context(self, jobs: int = 1) -> Context:
        """Return a fresh context for the trees this process opens."""
        from vfiolint.inputs.context import Context

        return Context(self.cache_root, self.cache_writable, self.index, jobs)

    def probed(self) -> Task:
        """Return the task with the cache's writability found out here, once, before worker
        processes share it (each would say it again)."""
        if self.cache_root is None or self.cache_writable is not None:
            return self
        from vfiolint.c.cache import Cache

        return replace(self, cache_writable=Cache.open(self.cache_root).writable)


def _keyword_set(rules: list[Rule]) -> KeywordSet:
    """Return the keyword parts of some rules (one set per run)."""
    from vfiolint.rules.keywords import KeywordSet

    return KeywordSet.of(tuple(k for r in rules for k in r.keywords))


def _wanted(rules: list[Rule], config: Config, context: Context) -> Wanted:
    """Return the keyword pre-filter of a commit's files, with the parts each blob holds kept
    in the context (and its cache)."""
    from vfiolint.inputs.git import Wanted

    return Wanted(lambda path, found: bool(rules_holding(rules, path, config, found)),
                  context.keywords(_keyword_set(rules)))


def commit_outcome(context: Context, repo: Path, item: LoggedCommit | BrokenCommit,
                   index: int, range_name: str, rules: list[Rule], config: Config,
                   task: Task) -> Outcome:
    """Analyse one commit of a range; a failure is that commit's error."""
    from vfiolint.inputs import git

    outcome = Outcome(keep_hunks=task.keep_hunks, commits=1)
    if isinstance(item, git.BrokenCommit):
        outcome.errors.append((item.commit, item.message))
        return outcome
    try:
        with deadline(task.timeout, item.commit[:12]):
            git_patch = git.logged_patch(context, repo, item, index, range_name,
                                         None if task.keep_hunks else _wanted(rules, config, context))
            outcome.remember(git_patch.patch)
            outcome.findings += _git_findings(git_patch, rules, config, outcome)
    except Exception as exc:  # one failing commit is one error
        outcome.errors.append((item.commit, _failure(item.commit[:12], exc, task.debug)))
    return outcome


CommitWork = tuple["LoggedCommit | BrokenCommit", int, str, Task]


def _commit_in_worker(work: CommitWork) -> Outcome:
    """Worker entry point for one commit."""
    from vfiolint import parallel

    here = parallel.state()
    assert here.setup.repo is not None
    item, index, range_name, task = work
    return commit_outcome(here.context(task), here.setup.repo, item, index, range_name,
                          list(here.setup.rules), here.setup.config, task)


def _lost_commit(work: CommitWork, message: str) -> Outcome:
    """Make the error of a commit whose worker process died."""
    commit = work[0].commit
    return Outcome(keep_hunks=work[3].keep_hunks, inputs=1,
                   errors=[(commit, f"{commit[:12]}: {message}")])


@dataclass(frozen=True, slots=True)
class Staged:
    """The staged change of a repository, against HEAD (the empty tree before the first commit)."""

    repo: Path
    message: str = ""  # the commit message being written (the commit-msg hook)

    def outcome(self, rules: list[Rule], config: Config, task: Task, jobs: int) -> Outcome:
        """Analyse the staged change as one patch."""
        from vfiolint.inputs import git

        git.require_repository(self.repo)
        outcome = Outcome(keep_hunks=task.keep_hunks)
        context = task.context(jobs)
        try:
            staged = git.staged_patch(self.repo, "staged", context, self.message)
            if staged is not None:  # nothing staged: the summary does not speak of it
                outcome.staged = 1
                outcome.remember(staged.patch)
                outcome.findings += _git_findings(staged, rules, config, outcome)
        finally:
            context.close()
        return outcome


@dataclass(frozen=True, slots=True)
class CommitRange:
    """Every non-merge commit of a range, oldest first, each a patch with whole-file images."""

    repo: Path
    range: str
    label: str | None = None  # what the report calls the range (default: the range itself)

    def outcome(self, rules: list[Rule], config: Config, task: Task, jobs: int) -> Outcome:
        """Analyse each commit; one failing commit is one error."""
        from vfiolint import parallel
        from vfiolint.inputs import git

        git.require_repository(self.repo)
        outcome = Outcome(keep_hunks=task.keep_hunks)
        total = git.count_range(self.repo, self.range)
        progress = _progress(total)
        logged = ((item, index, self.label or self.range, task)
                  for index, item in enumerate(git.log_range(self.repo, self.range)))
        context = task.context(jobs)
        with progress or nullcontext():
            bar = progress.add_task("commits", total=total) if progress else None
            if jobs > 1 and total >= MIN_PARALLEL and parallel.available():
                workers = min(jobs, total)
                task = task.probed()
                logged = ((item, index, name, task) for item, index, name, _ in logged)
                setup = parallel.WorkerSetup(tuple(rules), config, self.repo,
                                             memory_budget(task.memory, workers))
                parts: Iterable[Outcome] = parallel.ordered_map(
                    _commit_in_worker, logged, workers, setup, _lost_commit,
                    parallel.COMMIT_BATCH)
            else:
                parts = (commit_outcome(context, self.repo, item, index, name, rules, config,
                                        job) for item, index, name, job in logged)
            try:
                for part in parts:
                    outcome.merge(part)
                    if progress is not None and bar is not None:
                        progress.advance(bar, part.commits)
            finally:
                context.close()
        return outcome


def _failure(name: str, exc: BaseException, debug: bool) -> str:
    """Turn what went wrong with one input into its one-line error."""
    if isinstance(exc, VfiolintError):
        return str(exc)
    if isinstance(exc, Skipped):
        return f"{name}: {exc}"
    if isinstance(exc, RecursionError):
        return f"{name}: skipped: too deeply nested"
    if isinstance(exc, MemoryError):
        return f"{name}: skipped: too large (out of memory)"
    if debug:
        traceback.print_exception(exc)
    return f"{name}: internal error: {type(exc).__name__}: {exc}"


def _record(part: Loaded, rules: list[Rule], config: Config, outcome: Outcome,
            context: Context | None = None, series: Series | None = None,
            judge: Judge | None = None) -> None:
    """Add one part's errors, patches and findings to the outcome."""
    outcome.errors += [(part.input, str(e)) for e in part.errors]
    outcome.mailed += len(part.patches)
    outcome.sources += part.source is not None
    if part.patches or part.source is not None:
        outcome.recognised.add(part.input)
    for patch in part.patches:
        outcome.remember(patch)
    findings, coverage = analyse(part, rules, config, context, series, judge)
    outcome.findings += findings
    outcome.coverage += coverage


def stream_outcome(name: str, stream: BinaryIO, rules: list[Rule], config: Config,
                   task: Task, context: Context | None = None) -> Outcome:
    """Analyse one named stream (an mbox in memory, say) exactly as ``vfiolint check`` reads
    a file: message by message, each within the time budget; with ``task.repo`` and a
    context, its patches are read with their repository as ``--repo`` reads them."""
    outcome = Outcome(keep_hunks=task.keep_hunks, inputs=1)
    _run_input(name, stream, True, rules, config, task, outcome, context,
               _series(task, context))
    outcome.findings = keep(outcome.findings)
    return outcome


def _series(task: Task, context: Context | None) -> Series | None:
    """Return the series state for patches read with a repository (``--repo``), else None."""
    if task.repo is None or context is None:
        return None
    from vfiolint.inputs.trees import Series

    return Series(context, task.repo, task.base)


def _run_input(name: str, stream: BinaryIO, named: bool, rules: list[Rule], config: Config,
               task: Task, outcome: Outcome, context: Context | None = None,
               series: Series | None = None, judge: Judge | None = None) -> None:
    """Read and analyse one input message by message, each within the time budget.

    The budget covers reading a message as well as analysing it, so a stream that stops
    sending ends too. A message that fails or runs out of time while it is analysed is that
    message's error, and the next one is read; one that fails while it is read ends the
    input (a stream cannot be read past what went wrong). With a repository (``series``),
    the patches are applied in memory as they come, each on top of its series' earlier
    patches."""
    limits, debug = task.limits, task.debug
    reader = InputReader(name, named, limits)
    messages = chunks(stream, name, limits)
    number = 1
    while True:
        where = f"{name}: message {number}" if number > 1 else name
        reading = True
        try:
            with deadline(limits.seconds, where):
                chunk = next(messages, None)
                reading = False
                if chunk is None:
                    break
                _record(reader.read(chunk), rules, config, outcome, context, series, judge)
        except Exception as exc:  # a crash is this message's error, never "findings"
            outcome.errors.append((name, _failure(where, exc, debug)))
            if reading:
                return
        number += 1
    if reader.found or reader.mail:
        outcome.recognised.add(name)
    try:
        final = reader.finish()
        if final is not None:
            with deadline(limits.seconds, name):
                _record(final, rules, config, outcome, context, series, judge)
    except Exception as exc:
        outcome.errors.append((name, _failure(name, exc, debug)))


def input_outcome(entry: Entry, rules: list[Rule], config: Config, task: Task,
                  context: Context | None = None, series: Series | None = None,
                  judge: Judge | None = None) -> Outcome:
    """Analyse one input (a file, a directory entry, a pipe or device, or standard input).

    Opening is bounded by the time budget as well: a named pipe without a writer waits in
    open(2)."""
    name = entry.name
    outcome = Outcome(keep_hunks=task.keep_hunks, inputs=1)
    if entry.skip is not None:
        outcome.errors.append((name, entry.skip))
        return outcome
    try:
        with deadline(task.limits.seconds, name):
            stream = open_input(name)
    except Exception as exc:
        outcome.errors.append((name, _failure(name, exc, task.debug)))
        return outcome
    with stream:
        _run_input(name, stream, entry.named, rules, config, task, outcome, context, series,
                   judge)
    return outcome


def _input_in_worker(work: tuple[Entry, Task]) -> Outcome:
    """Worker entry point for one input."""
    from vfiolint import parallel

    here = parallel.state()
    entry, task = work
    return input_outcome(entry, list(here.setup.rules), here.setup.config, task,
                         here.context(task))


def _lost_input(work: tuple[Entry, Task], message: str) -> Outcome:
    """Make the error of an input whose worker process died."""
    entry, task = work
    return Outcome(keep_hunks=task.keep_hunks, inputs=1,
                   errors=[(entry.name, f"{entry.name}: {message}")])


class _Delegated:
    """A ``Judge`` that judges each file in a worker process forked when a file first needs
    it, while this process reads the input (see ``Inputs.outcome``)."""

    def __init__(self, setup: WorkerSetup, task: Task) -> None:
        from vfiolint import parallel

        self.task = task
        self.worker = parallel.OnDemand(_judge_in_worker, setup)

    def __call__(self, work: Judging) -> tuple[list[Finding], FileCoverage]:
        from vfiolint.inputs import stream

        # The cache is opened (and a problem with it said) by the first file, once: a task
        # probed already is its own probe.
        self.task = self.task.probed()
        # The message's time budget goes with the file: the worker keeps it, and a file that
        # outruns it is stopped there, where the C model stays loaded for the next. This
        # process waits a little longer (a worker deep in C code answers late), then stops it.
        with stream.paused() as budget:
            try:
                answer = self.worker((work, self.task, budget), None if budget is None
                                     else max(budget.left(), 0) + BUDGET_GRACE)
            except TimeoutError:
                assert budget is not None
                raise budget.exceeded() from None
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        """Stop the worker, if one was forked."""
        self.worker.close()


def _judge_in_worker(work: tuple[Judging, Task, Budget | None]
                     ) -> tuple[list[Finding], FileCoverage] | Exception:
    """Worker entry point for one file, within what is left of its message's time budget;
    what it raises is returned, to be raised again where the file was asked for (its error
    reads as if it had been judged there)."""
    from vfiolint import parallel

    here = parallel.state()
    judging, task, budget = work
    try:
        with (deadline(budget.seconds, budget.what, budget.ends) if budget is not None
              else nullcontext()):
            return judged(judging, list(here.setup.rules), here.context(task))
    except Exception as exc:
        return exc


@dataclass(frozen=True, slots=True)
class Inputs:
    """Named inputs: files, directories (searched), pipes and devices, or ``-`` for standard
    input."""

    names: tuple[str, ...]

    def outcome(self, rules: list[Rule], config: Config, task: Task, jobs: int) -> Outcome:
        """Analyse every input; one bad input is that input's error only.

        Many inputs are spread over worker processes (``--jobs``), each reading and judging
        whole inputs, whose memory the parent watches: a runaway input is that input's
        error, and the run goes on. Otherwise this process reads the inputs, and the C
        model runs on each file worth it in one worker process, watched the same way and
        forked only when a file first needs it: a series of patches no rule wants forks
        nothing, and a file that takes its worker down is its message's error. With no
        memory bound (``--memory-limit 0``), or with patches read with their repository
        (``--repo``: a series spans the files of a directory), the C model runs here too."""
        from vfiolint import parallel

        outcome = Outcome(keep_hunks=task.keep_hunks)
        folders = {name: expand([name]) for name in self.names if _is_dir(name)}
        inputs = [x for name in self.names for x in folders.get(name, [Entry(name, True)])]
        workers = min(jobs, len(inputs)) if len(inputs) >= MIN_PARALLEL else 1
        memory = memory_budget(task.memory, workers)
        guarded = parallel.available() and task.repo is None  # workers can be forked
        context = task.context(jobs)
        delegated: _Delegated | None = None
        try:
            if inputs and workers > 1 and guarded:
                setup = parallel.WorkerSetup(tuple(rules), config, memory=memory)
                task = task.probed()
                parts: Iterable[Outcome] = parallel.ordered_map(
                    _input_in_worker, ((entry, task) for entry in inputs), workers, setup,
                    _lost_input)
            else:
                if memory and guarded:
                    delegated = _Delegated(parallel.WorkerSetup(tuple(rules), config,
                                                                memory=memory), task)
                series = _series(task, context)
                parts = (input_outcome(entry, rules, config, task, context, series, delegated)
                         for entry in inputs)
            for part in parts:
                outcome.merge(part)
        finally:
            if delegated is not None:
                delegated.close()
            context.close()
        for name, entries in folders.items():  # a folder with nothing to read is a mistake
            if not {entry.name for entry in entries} & outcome.recognised:
                outcome.errors.append((name, f"{name}: no patch, mail or C source in this "
                                             "directory"))
        return outcome


@dataclass(frozen=True, slots=True)
class TreeRevision:
    """The C files of a revision (``--tree REV [PATHSPEC...]``), read from git objects like
    ``git grep REV``: each a source file, every finding ``present``."""

    repo: Path
    revision: str
    pathspecs: tuple[str, ...] = ()

    def outcome(self, rules: list[Rule], config: Config, task: Task, jobs: int) -> Outcome:
        """Analyse every selected file of the revision with the revision's tree, spread over
        worker processes like the commits of a range (each worker opens the tree's index
        once)."""
        from vfiolint import parallel
        from vfiolint.inputs import git

        git.require_repository(self.repo)
        outcome = Outcome(keep_hunks=task.keep_hunks)
        files = git.tree_files(self.repo, self.revision, self.pathspecs)
        spread = jobs > 1 and len(files) >= MIN_PARALLEL and parallel.available()
        if spread:
            task = task.probed()  # the cache is opened (and a problem with it said) once
        context = task.context(jobs)
        try:
            tree_id = context.repository(self.repo).tree_id(self.revision)
            if spread:
                workers = min(jobs, len(files))
                work = ((self.revision, tree_id, path, oid, task) for path, oid in files.items())
                setup = parallel.WorkerSetup(tuple(rules), config, self.repo,
                                             memory_budget(task.memory, workers))
                parts: Iterable[Outcome] = parallel.ordered_map(
                    _tree_file_in_worker, work, workers, setup, _lost_tree_file)
            else:
                parts = (tree_file_outcome(context, self.repo, (self.revision, tree_id, path,
                                                                oid, task), rules, config)
                         for path, oid in files.items())
            for part in parts:
                outcome.merge(part)
        finally:
            context.close()
        return outcome


TreeFileWork = tuple[str, str, str, str, "Task"]  # revision, its tree, path, blob, task


def tree_file_outcome(context: Context, repo_path: Path, work: TreeFileWork,
                      rules: list[Rule], config: Config) -> Outcome:
    """Analyse one file of a revision as a source file judged with the revision's tree."""
    from vfiolint.c.index import TreeSpec
    from vfiolint.inputs.images import file_unit
    from vfiolint.rules.engine import check_source

    revision, tree_id, path, oid, task = work
    outcome = Outcome(keep_hunks=task.keep_hunks, sources=1)
    name = f"{revision}:{path}"
    try:
        repo = context.repository(repo_path)
        tree = context.tree(repo, TreeSpec(tree_id))
        config = config.for_files()
        blobs = context.keywords(_keyword_set(rules))
        named = blobs.keywords.scan(path.encode("utf-8", "surrogateescape"))
        parts = blobs.get(oid)  # what the blob holds, or more (never less)
        text: bytes | None = b""
        if parts is None or rules_holding(rules, path, config, parts | named):
            text = repo.read([oid])[0]  # some rule may match it, or its parts are not known
            if text is not None:
                parts = blobs.scanned(oid, text)
        if text is None or parts is None:
            outcome.errors.append((name, f"{name}: cannot read the blob"))
            return outcome
        with deadline(task.timeout, name):
            # A file no rule wants is not read: its coverage says so, as if it had been.
            found, cov = check_source(file_unit(path, text, tree), rules, name, config,
                                      parts | named)
    except Exception as exc:  # one failing file is one error
        outcome.errors.append((name, _failure(name, exc, task.debug)))
        return outcome
    outcome.findings += found
    outcome.coverage.append(Coverage(name, None, (cov,)))
    return outcome


def _tree_file_in_worker(work: TreeFileWork) -> Outcome:
    """Worker entry point for one file of a revision."""
    from vfiolint import parallel

    here = parallel.state()
    assert here.setup.repo is not None
    return tree_file_outcome(here.context(work[4]), here.setup.repo, work,
                             list(here.setup.rules), here.setup.config)


def _lost_tree_file(work: TreeFileWork, message: str) -> Outcome:
    """Make the error of a file whose worker process died."""
    name = f"{work[0]}:{work[2]}"
    return Outcome(keep_hunks=work[4].keep_hunks, sources=1,
                   errors=[(name, f"{name}: {message}")])


def _is_dir(name: str) -> bool:
    """Tell whether an input names a directory."""
    return name != "-" and Path(name).is_dir()


class Source(Protocol):
    """A way code arrives: every kind of input answers the same question."""

    def outcome(self, rules: list[Rule], config: Config, task: Task, jobs: int) -> Outcome:
        """Analyse everything this source holds."""


@dataclass(frozen=True, slots=True)
class Request:
    """What ``vfiolint check`` was asked to look at, and how."""

    inputs: tuple[str, ...] = ()
    git: str | None = None
    staged: bool = False
    repo: Path = Path()
    keep_hunks: bool = False
    timeout: float = Limits().seconds
    debug: bool = False
    jobs: int = 0
    lines: str = "commit"  # "head": a range's findings also placed in the range's head
    message: str = ""  # with ``staged``: the commit message being written
    memory_limit: float | None = None  # MiB per worker process; None: a share of the machine
    tree: str | None = None  # --tree REV: ``inputs`` are then pathspecs
    patches_repo: Path | None = None  # --repo given with inputs: patches read with it
    base: str | None = None  # --base: the base of patches that name none that fits
    cache_dir: Path | None = None  # None: $XDG_CACHE_HOME/vfiolint
    no_cache: bool = False
    index: bool = True
    git_label: str | None = None  # what the report calls the --git range
    cache_limit: int = 0  # bytes the cache may hold (0: no bound)

    def sources(self) -> list[tuple[str, Source]]:
        """Return the sources to read, each with the name its failure is reported under."""
        out: list[tuple[str, Source]] = []
        if self.tree is not None:
            return [(self.tree, TreeRevision(self.repo, self.tree, self.inputs))]
        if self.staged:
            out.append(("staged", Staged(self.repo, self.message)))
        elif self.git:
            out.append((self.git_label or self.git,
                        CommitRange(self.repo, self.git, self.git_label)))
        if self.inputs:
            out.append(("", Inputs(self.inputs)))
        return out

    def cache_root(self) -> Path | None:
        """Return where the index's on-disk cache is (None with ``--no-cache``)."""
        if self.no_cache:
            return None
        if self.cache_dir is not None:
            return self.cache_dir
        from vfiolint.c.cache import default_root

        return default_root()

    def task(self) -> Task:
        """Return how each piece of work is to be analysed."""
        return Task(self.timeout, self.debug, self.keep_hunks, Limits(seconds=self.timeout),
                    self.memory_limit, self.cache_root(), None, self.index, self.patches_repo,
                    self.base)


def run_check(request: Request, rules: list[Rule], config: Config) -> Outcome:
    """Read every source and analyse it; a source that fails as a whole is one error."""
    from vfiolint import parallel

    outcome = Outcome(keep_hunks=request.keep_hunks)
    task = request.task()
    jobs = request.jobs or parallel.default_jobs()
    for name, source in request.sources():
        try:
            outcome.merge(source.outcome(rules, config, task, jobs))
        except VfiolintError as exc:
            outcome.errors.append((name, str(exc)))
    outcome.findings = keep(outcome.findings)
    if request.lines == "head" and request.git and not request.staged:
        place_at_head(outcome, request.repo, request.git)
    _bound_cache(request.cache_root(), request.cache_limit)
    return outcome


def _bound_cache(root: Path | None, limit: int) -> None:
    """Keep the cache under its bound (looked at once a day, by a run that can write it)."""
    if root is None or limit <= 0 or not root.is_dir():
        return
    from vfiolint.c.cache import Cache

    Cache(root).prune_if_due(limit)  # quietly: a cache that cannot be written said so once


def place_at_head(outcome: Outcome, repo: Path, revision_range: str) -> None:
    """Give each finding of a range its place in the range's head commit (``--lines head``):
    what a pull request is annotated on. A fixed hazard, or code a later commit rewrote or
    deleted, has no place there."""
    from vfiolint.inputs.lines import HeadMap, range_head

    try:
        head = range_head(repo, revision_range)
    except VfiolintError as exc:
        outcome.errors.append((revision_range, str(exc)))
        return
    if head is None:
        log.warning("%s: several tips, no one head: lines are the commits' own", revision_range)
        return
    heads = HeadMap(repo, head)
    placed: list[Finding] = []
    failed: set[str] = set()
    for f in outcome.findings:
        commit = f.patch.commit if f.patch is not None else None
        if commit is None or commit in failed:
            placed.append(f)
            continue
        try:
            where = (None if f.status is Status.FIXED
                     else heads.place(commit, f.path, f.line, f.end_line))
        except VfiolintError as exc:
            failed.add(commit)
            outcome.errors.append((commit, f"{commit[:12]}: lines not mapped to "
                                           f"{head[:12]}: {exc}"))
            placed.append(f)
            continue
        place = (HeadPlace(head) if where is None
                 else HeadPlace(head, where.path, where.line, where.end_line))
        placed.append(replace(f, head=place))
    outcome.findings = placed


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What ``vfiolint index`` did."""

    tree: str
    files: int
    names: int
    seconds: float
    cache: str


def build_index(repo: Path, revision: str, cache_dir: Path | None, jobs: int,
                cache_limit: int = 0) -> IndexStats:
    """Index the tree of a revision into the cache (nothing happens when it is there)."""
    import time

    from vfiolint import parallel
    from vfiolint.c.cache import Cache, default_root
    from vfiolint.c.index import C_FILES, Repository, TreeSpec

    start = time.perf_counter()
    cache = Cache.open(cache_dir or default_root())
    index = Repository(repo, cache, jobs or parallel.default_jobs())
    try:
        tree = index.tree_id(revision)
        view = index.view(TreeSpec(tree))
        names = index.names(view)
        count = names.count()
        files = sum(1 for p in view.files if p.endswith(C_FILES))
    finally:
        index.close()
    where = str(cache.root) if cache.writable else "not cached: the cache cannot be written"
    _bound_cache(cache.root, cache_limit)
    return IndexStats(tree, files, count, time.perf_counter() - start, where)
