"""The command line: argparse, the run, exit codes. The only module that prints or exits."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from vfiolint import __version__
from vfiolint.errors import InputError, VfiolintError
from vfiolint.limits import Limits
from vfiolint.report import FORMATS

if TYPE_CHECKING:
    from vfiolint.rules.loader import Rule
    from vfiolint.run import Outcome

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


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
    check.add_argument("--repo", type=Path, default=None,
                       help="repository for --git/--staged/--tree (default: the current "
                            "folder); with patches, read them with this repository's files")
    check.add_argument("--tree", metavar="REV", default=None,
                       help="check the C files of revision REV (INPUTs are then pathspecs, "
                            "as for 'git grep REV -- PATHSPEC')")
    check.add_argument("--base", metavar="REV", default=None,
                       help="with --repo, the revision a patch applies to when neither its "
                            "index line nor its base-commit fits (default: HEAD)")
    check.add_argument("--cache-dir", type=Path, default=None, dest="cache_dir",
                       help="where the repository index is cached (default: "
                            "$XDG_CACHE_HOME/vfiolint)")
    check.add_argument("--no-cache", action="store_true", dest="no_cache",
                       help="keep the repository index in memory only")
    check.add_argument("--no-index", action="store_true", dest="no_index",
                       help="judge each file alone: ask the repository nothing about names "
                            "the file does not define")
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
    index = sub.add_parser("index", help="index a revision's tree into the cache (what checks "
                                          "with a repository read)")
    index.add_argument("revision", nargs="?", default="HEAD", metavar="REV")
    index.add_argument("--repo", type=Path, default=Path(), help="the repository (default: .)")
    index.add_argument("--cache-dir", type=Path, default=None, dest="cache_dir",
                       help="where the index is cached (default: $XDG_CACHE_HOME/vfiolint)")
    index.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                       help="processes to scan with (default: the number of cores)")
    index.add_argument("--debug", action="store_true", help="show tracebacks and log lines")
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


def _reproduce(args: argparse.Namespace) -> list[str]:
    """Return the command line that reproduces a report, without its inputs."""
    words = ["vfiolint", "check"]
    if args.git:
        words += ["--git", args.git]
    if args.tree:
        words += ["--tree", args.tree]
    if args.staged:
        words.append("--staged")
    if args.select:
        words += ["--select", args.select]
    if args.ignore:
        words += ["--ignore", args.ignore]
    return words


def _print_report(args: argparse.Namespace, outcome: Outcome, rules: list[Rule]) -> None:
    """Write the report in the chosen format to standard output."""
    from vfiolint.report import Report, reporter

    report = Report(outcome.findings, outcome.errors, outcome.coverage, outcome.inputs,
                    outcome.patches, rules, _reproduce(args))
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    reporter(args.format)(report, sys.stdout, color)


def _cmd_check(args: argparse.Namespace) -> int:
    """Run ``vfiolint check``."""
    from vfiolint.config import find_config, load_config
    from vfiolint.policy import failing
    from vfiolint.rules.loader import load_rules, select_rules
    from vfiolint.run import Request, run_check

    if args.pre_commit:
        from_ref = os.environ.get("PRE_COMMIT_FROM_REF")
        to_ref = os.environ.get("PRE_COMMIT_TO_REF")
        if from_ref and to_ref:
            args.git = f"{from_ref}..{to_ref}"
        else:
            args.staged = True
    if not args.inputs and not args.git and not args.staged and not args.tree:
        raise UsageError("check needs an INPUT, --git RANGE, --staged or --tree REV")
    if sum(map(bool, (args.git, args.staged, args.tree))) > 1:
        raise UsageError("--git, --staged and --tree cannot be combined")
    if args.base is not None and args.repo is None:
        raise UsageError("--base needs --repo")
    repo = args.repo if args.repo is not None else Path()
    in_repo = bool(args.git or args.staged or args.tree)
    config = load_config(args.config or find_config(repo.resolve() if in_repo or args.repo
                                                    else Path.cwd()))
    config = replace(config, repo=repo.resolve() if in_repo or args.repo else None)
    select = _ids(args.select)
    if select is None and config.select is not None:
        select = set(config.select)
    rules = select_rules(load_rules(args.rules), select, (_ids(args.ignore) or set()) | config.ignore)
    if args.no_prefilter:
        rules = [replace(r, keywords=()) for r in rules]
    request = Request(tuple(args.inputs), args.git, args.staged, repo,
                      keep_hunks=args.format == "email", timeout=args.timeout, debug=args.debug,
                      jobs=args.jobs, tree=args.tree,
                      patches_repo=args.repo if args.inputs and not args.tree else None,
                      base=args.base, cache_dir=args.cache_dir, no_cache=args.no_cache,
                      index=not args.no_index)
    outcome = run_check(request, rules, config)
    outcome.errors = [(name, one_line(message)) for name, message in outcome.errors]
    for _, message in outcome.errors:
        print(f"vfiolint: {message}", file=sys.stderr)
    try:
        _print_report(args, outcome, rules)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``vfiolint check … | head``): stop writing, keep the verdict.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if outcome.errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if failing(outcome.findings) else EXIT_CLEAN


def _cmd_index(args: argparse.Namespace) -> int:
    """Run ``vfiolint index``."""
    from vfiolint.run import build_index

    stats = build_index(args.repo, args.revision, args.cache_dir, args.jobs)
    print(f"{args.revision}: tree {stats.tree[:12]}: {stats.files} C files, {stats.names} names"
          f" in {stats.seconds:.2f} s ({stats.cache})")
    return EXIT_CLEAN


def _cmd_rules(args: argparse.Namespace) -> int:
    """Run ``vfiolint rules``."""
    from vfiolint.rules.loader import load_rules

    for rule in load_rules(args.rules):
        print(f"{rule.id}  {rule.name:<26} {rule.severity.value:<8} {rule.summary}")
    return EXIT_CLEAN


def _cmd_explain(args: argparse.Namespace) -> int:
    """Run ``vfiolint explain ID``."""
    from vfiolint.rules.loader import load_rules

    wanted = args.rule.upper() if args.rule.upper().startswith("VFIO") else args.rule
    for rule in load_rules(args.rules):
        if wanted in {rule.id, rule.name}:
            print(rule.explain(), end="")
            return EXIT_CLEAN
    raise UsageError(f"no rule {args.rule}; 'vfiolint rules' lists them")


def one_line(message: str) -> str:
    """Keep an error on one line: line breaks in names or quoted input become escapes."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def _tolerant_streams() -> None:
    """Let any character reach standard output and error (names that are not UTF-8 arrive as
    lone surrogates): what cannot be encoded is written as a backslash escape."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    """Run vfiolint and return its exit code."""
    _tolerant_streams()
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"vfiolint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="vfiolint: %(message)s")
    commands = {"check": _cmd_check, "index": _cmd_index, "rules": _cmd_rules,
                "explain": _cmd_explain}
    try:
        return commands[args.command](args)
    except UsageError as exc:
        print(f"vfiolint: {exc}", file=sys.stderr)
    except (VfiolintError, InputError) as exc:
        for line in str(exc).splitlines():  # rule-load errors: one line per problem
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
