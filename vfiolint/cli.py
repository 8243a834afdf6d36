"""The command line: argparse, the run, exit codes. The only module that prints or exits."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from vfiolint import __version__
from vfiolint.config import Config, find_config, load_config
from vfiolint.errors import InputError, VfiolintError
from vfiolint.findings import Finding, PatchRef
from vfiolint.inputs import InputReader, Loaded, expand, open_input
from vfiolint.inputs.stream import Limits, chunks, deadline
from vfiolint.model import Patch
from vfiolint.policy import failing, keep
from vfiolint.report.json_doc import Coverage
from vfiolint.ruleset import Rule, load_rules, select_rules

if TYPE_CHECKING:
    from rich.progress import Progress

    from vfiolint.inputs.git import BlobReader, GitPatch, LoggedCommit

FORMATS = ("console", "json", "sarif", "github", "email", "checkpatch")
EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
# Below this many inputs or commits, starting worker processes costs more than it saves.
MIN_PARALLEL = 32
BATCH = 16  # inputs or commits per task sent to a worker


class UsageError(Exception):
    """A command line that cannot be run."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` owns the exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = _Parser(prog="vfiolint", description="Review VFIO patches for known hazards.")
    parser.add_argument("--version", action="version", version=f"vfiolint {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = sub.add_parser("check", help="check patches, mail, C files or directories")
    check.add_argument("inputs", nargs="*", metavar="INPUT",
                       help="patch, mbox, saved mail or archive page, C file, directory, or -")
    check.add_argument("--git", metavar="RANGE", default=None,
                       help="check every non-merge commit of RANGE (A..B, or one commit)")
    check.add_argument("--staged", action="store_true", help="check the staged change")
    check.add_argument("--pre-commit", action="store_true", dest="pre_commit",
                       help="check what pre-commit checks: the staged change, or "
                            "PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF when set (pre-push)")
    check.add_argument("--repo", type=Path, default=Path(), help="repository for --git/--staged")
    check.add_argument("--format", choices=FORMATS, default="console")
    check.add_argument("--select", default=None, help="comma-separated rule IDs or names to run")
    check.add_argument("--ignore", default="", help="comma-separated rule IDs or names to skip")
    check.add_argument("--rules", type=Path, default=None, help="rules directory (default: bundled)")
    check.add_argument("--config", type=Path, default=None,
                       help="configuration file (default: the nearest .vfiolint.toml, or "
                            "pyproject.toml with [tool.vfiolint])")
    check.add_argument("--debug", action="store_true", help="show tracebacks and log lines")
    check.add_argument("--no-prefilter", action="store_true", dest="no_prefilter",
                       help="parse every file, even one without any rule's keywords "
                            "(slower; the output is the same)")
    check.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                       help="processes to use (default: the number of cores)")
    check.add_argument("--timeout", type=float, default=Limits().seconds, metavar="SECONDS",
                       help="time budget per message or file (default: %(default)g; 0: none)")
    sub.add_parser("rules", help="list the rules").add_argument("--rules", type=Path, default=None)
    explain = sub.add_parser("explain", help="print one rule's documentation")
    explain.add_argument("rule", metavar="ID")
    explain.add_argument("--rules", type=Path, default=None)
    return parser


def _ids(text: str | None) -> set[str] | None:
    """Split a comma-separated option value."""
    if text is None:
        return None
    return {x.strip() for x in text.split(",") if x.strip()}


@dataclass
class Outcome:
    """Everything a run found."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    inputs: int = 0
    patches: dict[tuple[str, int], Patch] = field(default_factory=dict)
    coverage: list[Coverage] = field(default_factory=list)
    keep_hunks: bool = False  # only the email report quotes hunks; others need the headers

    def merge(self, other: Outcome) -> None:
        """Add another outcome's results after this one's."""
        self.findings += other.findings
        self.errors += other.errors
        self.inputs += other.inputs
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
    """Mark the findings a patch's ``Vfiolint-Waive:`` trailers accept."""
    from vfiolint.waivers import trailer_waivers

    known = frozenset(r.id for r in rules) | frozenset(r.name for r in rules)
    waived = trailer_waivers(patch.trailers, patch.label, known)
    if not waived:
        return findings
    return [replace(f, waiver=waived.get(f.rule) or waived.get(f.name))
            if f.waiver is None else f for f in findings]


def analyse(loaded: Loaded, rules: list[Rule], config: Config | None = None) -> list[Finding]:
    """Run the rules over one loaded input."""
    return analyse_with_coverage(loaded, rules, config)[0]


def analyse_with_coverage(loaded: Loaded, rules: list[Rule], config: Config | None = None
                          ) -> tuple[list[Finding], list[Coverage]]:
    """Run the rules over one loaded input; say, per patch or source file, what was read."""
    from vfiolint.engine import check_source, compare_pair
    from vfiolint.source import patch_units

    config = config or Config()
    findings: list[Finding] = []
    coverage: list[Coverage] = []
    if loaded.source is not None:
        found, cov = check_source(loaded.source, rules, loaded.input, config)
        findings += found
        coverage.append(Coverage(loaded.input, None, (cov,)))
    for patch in loaded.patches:
        ref = _patch_ref(patch)
        hunks = {f.path: len(f.hunks) for f in patch.files}
        results = [compare_pair(pair, rules, loaded.input, ref, config, hunks.get(pair.path, 0))
                   for pair in patch_units(patch)]
        findings += waive_by_trailers([f for r in results for f in r[0]], patch, rules)
        coverage.append(Coverage(loaded.input, ref, tuple(r[1] for r in results),
                                 len(patch.files)))
    return findings, coverage


def _git_findings(git_patch: GitPatch, rules: list[Rule], config: Config,
                  outcome: Outcome) -> list[Finding]:
    """Run the rules over one commit's whole-file image pairs, recording what was read."""
    from vfiolint.engine import compare_pair

    ref = _patch_ref(git_patch.patch)
    hunks = {f.path: len(f.hunks) for f in git_patch.patch.files}
    results = [compare_pair(pair, rules, git_patch.patch.input, ref, config,
                            hunks.get(pair.path, 0)) for pair in git_patch.pairs]
    outcome.coverage.append(Coverage(git_patch.patch.input, ref, tuple(r[1] for r in results),
                                     len(git_patch.patch.files)))
    return waive_by_trailers([f for r in results for f in r[0]], git_patch.patch, rules)


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


def commit_outcome(reader: BlobReader, item: LoggedCommit, index: int, range_name: str,
                   rules: list[Rule], config: Config, task: Task) -> Outcome:
    """Analyse one commit of a range; a failure is that commit's error."""
    from vfiolint.inputs import git

    outcome = Outcome(keep_hunks=task.keep_hunks, inputs=1)
    try:
        with deadline(task.timeout, item.commit[:12]):
            git_patch = git.logged_patch(reader, item, index, range_name)
            outcome.remember(git_patch.patch)
            outcome.findings += _git_findings(git_patch, rules, config, outcome)
    except Exception as exc:  # one failing commit is one error
        outcome.errors.append((item.commit, _failure(item.commit[:12], exc, task.debug)))
    return outcome


def _commits_in_worker(batch: list[tuple[LoggedCommit, int, str, Task]]) -> Outcome:
    """Pool entry point for a batch of commits."""
    from vfiolint import parallel
    from vfiolint.inputs.git import BlobReader

    here = parallel.state()
    reader = here.reader
    assert isinstance(reader, BlobReader)
    outcome = Outcome()
    for item, index, range_name, task in batch:
        outcome.merge(commit_outcome(reader, item, index, range_name, list(here.setup.rules),
                                     here.setup.config, task))
    return outcome


def run_git(args: argparse.Namespace, rules: list[Rule], config: Config, task: Task,
            jobs: int, outcome: Outcome) -> None:
    """Analyse a commit range or the staged change; one failing commit is one error."""
    from vfiolint import parallel
    from vfiolint.inputs import git

    repo = args.repo
    if args.staged:
        outcome.inputs += 1
        staged = git.staged_patch(repo, "staged")
        if staged is not None:
            outcome.remember(staged.patch)
            outcome.findings += _git_findings(staged, rules, config, outcome)
        return
    total = git.count_range(repo, args.git)
    progress = _progress(total)
    logged = ((item, index, args.git, task)
              for index, item in enumerate(git.log_range(repo, args.git)))
    with git.BlobReader(repo) as reader, progress or nullcontext():
        bar = progress.add_task("commits", total=total) if progress else None
        if jobs > 1 and total >= MIN_PARALLEL:
            setup = parallel.WorkerSetup(tuple(rules), config, repo)
            parts = parallel.ordered_map(_commits_in_worker, parallel.batched(logged, BATCH),
                                         min(jobs, total), setup)
        else:
            parts = (commit_outcome(reader, item, index, name, rules, config, job)
                     for item, index, name, job in logged)
        for part in parts:
            outcome.merge(part)
            if progress is not None and bar is not None:
                progress.advance(bar, part.inputs)


def _failure(name: str, exc: BaseException, debug: bool) -> str:
    """Turn what went wrong with one input into its one-line error."""
    if isinstance(exc, VfiolintError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return f"{name}: skipped: too deeply nested"
    if isinstance(exc, MemoryError):
        return f"{name}: skipped: too large (out of memory)"
    if debug:
        traceback.print_exception(exc)
    return f"{name}: internal error: {type(exc).__name__}: {exc}"


def _record(part: Loaded, rules: list[Rule], config: Config, outcome: Outcome) -> None:
    """Add one part's errors, patches and findings to the outcome."""
    outcome.errors += [(part.input, str(e)) for e in part.errors]
    for patch in part.patches:
        outcome.remember(patch)
    findings, coverage = analyse_with_coverage(part, rules, config)
    outcome.findings += findings
    outcome.coverage += coverage


def _run_input(name: str, stream: BinaryIO, named: bool, rules: list[Rule], config: Config,
               limits: Limits, outcome: Outcome, debug: bool) -> None:
    """Analyse one input message by message, each within the time budget.

    Splitting the stream into messages is cheap and stays outside the budget; a message that
    fails or runs out of time is that message's error, and the next one is read."""
    reader = InputReader(name, named, limits)
    try:
        for chunk in chunks(stream, name, limits):
            where = f"{name}: message {chunk.number}" if chunk.number > 1 else name
            try:
                with deadline(limits.seconds, where):
                    _record(reader.read(chunk), rules, config, outcome)
            except Exception as exc:  # a crash is this message's error, never "findings"
                outcome.errors.append((name, _failure(where, exc, debug)))
        final = reader.finish()
        if final is not None:
            with deadline(limits.seconds, name):
                _record(final, rules, config, outcome)
    except Exception as exc:
        outcome.errors.append((name, _failure(name, exc, debug)))


def input_outcome(name: str, named: bool, rules: list[Rule], config: Config,
                  task: Task) -> Outcome:
    """Analyse one input (a file, a directory entry, or standard input)."""
    outcome = Outcome(keep_hunks=task.keep_hunks, inputs=1)
    try:
        stream = open_input(name)
    except VfiolintError as exc:
        outcome.errors.append((name, str(exc)))
        return outcome
    try:
        _run_input(name, stream, named, rules, config, task.limits, outcome, task.debug)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    return outcome


def _inputs_in_worker(batch: list[tuple[str, bool, Task]]) -> Outcome:
    """Pool entry point for a batch of inputs."""
    from vfiolint import parallel

    here = parallel.state()
    outcome = Outcome()
    for name, named, task in batch:
        outcome.merge(input_outcome(name, named, list(here.setup.rules), here.setup.config, task))
    return outcome


def run_check(args: argparse.Namespace, rules: list[Rule], config: Config) -> Outcome:
    """Load and analyse every input; one bad input is that input's error only."""
    from vfiolint import parallel

    outcome = Outcome(keep_hunks=args.format == "email")
    task = Task(args.timeout, args.debug, outcome.keep_hunks, Limits(seconds=args.timeout))
    jobs = args.jobs or parallel.default_jobs()
    if args.git or args.staged:
        try:
            run_git(args, rules, config, task, jobs, outcome)
        except VfiolintError as exc:
            outcome.errors.append((args.git or "staged", str(exc)))
    inputs = expand(args.inputs)
    if jobs > 1 and len(inputs) >= MIN_PARALLEL and all(name != "-" for name, _ in inputs):
        setup = parallel.WorkerSetup(tuple(rules), config)
        work = ((name, named, task) for name, named in inputs)
        batches = parallel.batched(work, BATCH)
        for part in parallel.ordered_map(_inputs_in_worker, batches, min(jobs, len(inputs)), setup):
            outcome.merge(part)
    else:
        for name, named in inputs:
            outcome.merge(input_outcome(name, named, rules, config, task))
    outcome.findings = keep(outcome.findings)
    return outcome


def _reproduce(args: argparse.Namespace) -> list[str]:
    """Return the command line that reproduces a report, without its inputs."""
    words = ["vfiolint", "check"]
    if args.git:
        words += ["--git", args.git]
    if args.staged:
        words.append("--staged")
    if args.select:
        words += ["--select", args.select]
    if args.ignore:
        words += ["--ignore", args.ignore]
    return words


def _print_report(args: argparse.Namespace, outcome: Outcome, rules: list[Rule]) -> None:
    """Write the report in the chosen format to standard output."""
    if args.format == "json":
        from vfiolint.report import json_doc

        sys.stdout.write(json_doc.render(outcome.findings, outcome.errors, outcome.coverage))
        return
    if args.format == "sarif":
        from vfiolint.report import sarif

        sys.stdout.write(sarif.render(outcome.findings, outcome.errors, rules))
        return
    if args.format == "github":
        from vfiolint.report import github

        sys.stdout.write(github.render(outcome.findings, outcome.errors))
        return
    if args.format == "checkpatch":
        from vfiolint.report import checkpatch

        sys.stdout.write(checkpatch.render(outcome.findings, outcome.errors))
        return
    if args.format == "email":
        from vfiolint.report import email_reply

        sys.stdout.write(email_reply.render(outcome.findings, outcome.patches, _reproduce(args)))
        return
    from rich.console import Console

    from vfiolint.report import console

    plain = not sys.stdout.isatty() or "NO_COLOR" in os.environ
    out = Console(file=sys.stdout, soft_wrap=True, no_color=plain, highlight=False,
                  force_terminal=False if plain else None)
    console.render(out, outcome.findings, outcome.errors, outcome.inputs, outcome.patches)


def _cmd_check(args: argparse.Namespace) -> int:
    """Run ``vfiolint check``."""
    if args.pre_commit:
        from_ref = os.environ.get("PRE_COMMIT_FROM_REF")
        to_ref = os.environ.get("PRE_COMMIT_TO_REF")
        if from_ref and to_ref:
            args.git = f"{from_ref}..{to_ref}"
        else:
            args.staged = True
    if not args.inputs and not args.git and not args.staged:
        raise UsageError("check needs an INPUT, --git RANGE or --staged")
    if args.git and args.staged:
        raise UsageError("--git and --staged cannot be combined")
    config = load_config(args.config or find_config(args.repo.resolve() if (
        args.git or args.staged) else Path.cwd()))
    select = _ids(args.select)
    if select is None and config.select is not None:
        select = set(config.select)
    rules = select_rules(load_rules(args.rules), select, (_ids(args.ignore) or set()) | config.ignore)
    if args.no_prefilter:
        rules = [replace(r, keywords=()) for r in rules]
    outcome = run_check(args, rules, config)
    for _, message in outcome.errors:
        print(f"vfiolint: {message.splitlines()[0]}", file=sys.stderr)
    _print_report(args, outcome, rules)
    if outcome.errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if failing(outcome.findings) else EXIT_CLEAN


def _cmd_rules(args: argparse.Namespace) -> int:
    """Run ``vfiolint rules``."""
    for rule in load_rules(args.rules):
        print(f"{rule.id}  {rule.name:<26} {rule.severity.value:<8} {rule.summary}")
    return EXIT_CLEAN


def _cmd_explain(args: argparse.Namespace) -> int:
    """Run ``vfiolint explain ID``."""
    wanted = args.rule.upper() if args.rule.upper().startswith("VFIO") else args.rule
    for rule in load_rules(args.rules):
        if wanted in {rule.id, rule.name}:
            print(rule.explain(), end="")
            return EXIT_CLEAN
    raise UsageError(f"no rule {args.rule}; 'vfiolint rules' lists them")


def main(argv: list[str] | None = None) -> int:
    """Run vfiolint and return its exit code."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"vfiolint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="vfiolint: %(message)s")
    commands = {"check": _cmd_check, "rules": _cmd_rules, "explain": _cmd_explain}
    try:
        return commands[args.command](args)
    except UsageError as exc:
        print(f"vfiolint: {exc}", file=sys.stderr)
    except (VfiolintError, InputError) as exc:
        for line in str(exc).splitlines():
            print(f"vfiolint: {line}", file=sys.stderr)
    except KeyboardInterrupt:
        print("vfiolint: interrupted", file=sys.stderr)
    except Exception as exc:  # the last net: a crash is an error, never "findings"
        if debug:
            traceback.print_exception(exc)
        print(f"vfiolint: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return EXIT_ERROR


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
