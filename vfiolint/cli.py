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
    from vfiolint.findings import Finding
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
    check.add_argument("--commit-msg", action="store_true", dest="commit_msg",
                       help="with --pre-commit, at the commit-msg stage: INPUT is the commit "
                            "message being written, whose Vfiolint-Waive trailers count")
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
                       help="where the repository index and the blobs' keyword parts are cached (default: "
                            "$XDG_CACHE_HOME/vfiolint)")
    check.add_argument("--no-cache", action="store_true", dest="no_cache",
                       help="keep the repository index and the blobs' keyword parts in memory only")
    check.add_argument("--cache-limit", type=float, default=None, dest="cache_limit",
                       metavar="MIB", help="the cache's size bound: at most once a day, a "
                       "cache over it loses its entries used longest ago (default: "
                       "$VFIOLINT_CACHE_LIMIT, else 2048; 0: no bound)")
    check.add_argument("--no-index", action="store_true", dest="no_index",
                       help="judge each file alone: ask the repository nothing about names "
                            "the file does not define")
    check.add_argument("--format", choices=FORMATS, default="console")
    check.add_argument("--email-from", dest="email_from", metavar="ADDRESS",
                       default="vfiolint <vfiolint@localhost>",
                       help="the From of --format email replies (default: %(default)s)")
    check.add_argument("--lines", choices=("head", "commit"), default=None,
                       help="with --git: report lines of the range's head commit (what a pull "
                            "request is annotated on) or of each finding's own commit "
                            "(default: head for github and sarif, commit otherwise)")
    check.add_argument("--select", action="append", default=None, metavar="IDS",
                       help="rule IDs (any case) or names to run, comma-separated; "
                            "repeatable; replaces the configured selection")
    check.add_argument("--ignore", action="append", default=None, metavar="IDS",
                       help="rule IDs (any case) or names to skip, comma-separated; "
                            "repeatable; adds to the configured ones")
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
                       help="time budget per message or file, reading included "
                            "(default: %(default)g; 0: none)")
    check.add_argument("--memory-limit", type=float, default=None, metavar="MIB",
                       dest="memory_limit",
                       help="resident memory a worker process may reach before the input it "
                            "is on is skipped (default: an equal share of the machine's "
                            "memory; 0: none)")
    index = sub.add_parser("index", help="index a revision's tree into the cache (what checks "
                                          "with a repository read)")
    index.add_argument("revision", nargs="?", default="HEAD", metavar="REV")
    index.add_argument("--repo", type=Path, default=Path(), help="the repository (default: .)")
    index.add_argument("--cache-dir", type=Path, default=None, dest="cache_dir",
                       help="where the index is cached (default: $XDG_CACHE_HOME/vfiolint)")
    index.add_argument("--cache-limit", type=float, default=None, dest="cache_limit",
                       metavar="MIB", help="the cache's size bound, as for check")
    index.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                       help="processes to scan with (default: the number of cores)")
    index.add_argument("--debug", action="store_true", help="show tracebacks and log lines")
    listing = sub.add_parser("rules", help="list the rules")
    listing.add_argument("--rules", type=Path, default=None)
    listing.add_argument("--all", action="store_true", dest="all_rules",
                         help="also list experimental rules (off unless selected), with each "
                              "rule's status")
    explain = sub.add_parser("explain", help="print one rule's documentation")
    explain.add_argument("rule", metavar="ID")
    explain.add_argument("--rules", type=Path, default=None)
    _add_bot(sub)
    return parser


def _add_bot(sub: argparse._SubParsersAction[_Parser]) -> None:
    """Describe ``vfiolint bot run`` and ``vfiolint bot status``."""
    bot = sub.add_parser("bot", help="watch a list archive, check each series, reply once")
    actions = bot.add_subparsers(dest="bot_command", required=True, parser_class=_Parser)
    run = actions.add_parser("run", help="read new mail, check series, send replies")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one run, for cron (the default)")
    mode.add_argument("--follow", action="store_true",
                      help="run until stopped, polling with backoff ([poll] min/max)")
    run.add_argument("--archive", required=True, metavar="PATH",
                     help="public-inbox inbox (git/N.git) or epoch repository, a Maildir, "
                          "or - for an mbox on standard input")
    run.add_argument("--state", required=True, type=Path, metavar="FILE",
                     help="the bot's SQLite state (created if missing)")
    run.add_argument("--config", type=Path, default=None, metavar="FILE",
                     help="the bot's configuration (list, tree, rules, reply, smtp, ...)")
    run.add_argument("--dry-run", type=Path, default=None, metavar="DIR", dest="dry_run",
                     help="write each reply as DIR/<n>.eml instead of sending it")
    run.add_argument("--rules", type=Path, default=None, help="rules directory (default: bundled)")
    run.add_argument("--quiet", "-q", action="store_true",
                     help="print the run's summary only when it did something (for cron)")
    run.add_argument("--debug", action="store_true", help="show tracebacks and log lines")
    status = actions.add_parser("status", help="summarise the bot's state")
    status.add_argument("--state", required=True, type=Path, metavar="FILE")
    status.add_argument("--json", action="store_true", help="one JSON object, for scripts")


def _ids(values: list[str] | None) -> list[str] | None:
    """Split the values of a repeatable, comma-separated option."""
    if values is None:
        return None
    return [x.strip() for text in values for x in text.split(",") if x.strip()]


def _reproduce(args: argparse.Namespace) -> list[str]:
    """Return the command line that reproduces a report, without what it read (inputs,
    --git, --staged): each reply names its own patch."""
    words = ["vfiolint", "check"]
    if args.select:
        words += ["--select", ",".join(_ids(args.select) or [])]
    if args.ignore:
        words += ["--ignore", ",".join(_ids(args.ignore) or [])]
    return words


def _print_report(args: argparse.Namespace, outcome: Outcome, rules: list[Rule]) -> None:
    """Write the report in the chosen format to standard output."""
    from vfiolint.report import Counts, Report, reporter

    counts = Counts(outcome.inputs, outcome.mailed, outcome.sources, outcome.commits,
                    outcome.staged)
    report = Report(outcome.findings, outcome.errors, outcome.coverage, counts,
                    outcome.patches, rules, _reproduce(args), args.email_from)
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    reporter(args.format)(report, sys.stdout, color)


def _top(repo: Path) -> Path:
    """Return the top of the work tree ``repo`` is in (a bare repository: itself); diff
    paths are relative to it."""
    from vfiolint.inputs.git import toplevel

    return toplevel(repo)


def _cmd_check(args: argparse.Namespace) -> int:
    """Run ``vfiolint check``."""
    from vfiolint.config import find_config, load_config
    from vfiolint.policy import failing
    from vfiolint.rules.loader import load_rules, resolve_rules, select_rules
    from vfiolint.run import Request, run_check

    given_repo = args.repo is not None
    args.repo = args.repo if given_repo else Path()
    message = _pre_commit(args) if args.pre_commit else ""
    if not args.inputs and not args.git and not args.staged and not args.tree:
        raise UsageError("check needs an INPUT, --git RANGE, --staged or --tree REV")
    if sum(map(bool, (args.git, args.staged, args.tree))) > 1:
        raise UsageError("--git, --staged and --tree cannot be combined")
    if args.base is not None and not given_repo:
        raise UsageError("--base needs --repo")
    if args.memory_limit is not None and args.memory_limit < 0:
        raise UsageError("--memory-limit must be a number of MiB, or 0 for none")
    cache_limit = _cache_limit(args.cache_limit)
    in_repo = bool(args.git or args.staged or args.tree)
    config = load_config(args.config or find_config(args.repo.resolve() if in_repo or given_repo
                                                    else Path.cwd()))
    config = replace(config, repo=args.repo.resolve() if in_repo or given_repo else None,
                     cwd=Path.cwd(), tree=_top(args.repo) if in_repo else None)
    known = load_rules(args.rules)
    config = config.with_rule_ids(lambda names, where: resolve_rules(known, names, where))
    select = _ids(args.select)
    chosen = config.select if select is None else resolve_rules(known, select, "--select")
    ignored = resolve_rules(known, _ids(args.ignore) or [], "--ignore") | config.ignore
    rules = select_rules(known, chosen, ignored)
    if args.no_prefilter:
        rules = [replace(r, prefilter=False) for r in rules]
    request = Request(tuple(args.inputs), args.git, args.staged, args.repo,
                      keep_hunks=args.format == "email", timeout=args.timeout, debug=args.debug,
                      jobs=args.jobs, lines=args.lines or (
                          "head" if args.format in ("github", "sarif") else "commit"),
                      message=message, memory_limit=args.memory_limit, tree=args.tree,
                      patches_repo=args.repo if given_repo and args.inputs and not args.tree
                      else None, base=args.base, cache_dir=args.cache_dir,
                      no_cache=args.no_cache, index=not args.no_index,
                      cache_limit=cache_limit,
                      git_label=getattr(args, "git_label", None))
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
    if not failing(outcome.findings):
        return EXIT_CLEAN
    if args.pre_commit:
        _how_to_go_on(outcome.findings)
    return EXIT_FINDINGS


def _pre_commit(args: argparse.Namespace) -> str:
    """Turn ``--pre-commit`` into what pre-commit's stage asks for; return the commit message
    being written (commit-msg stage), else "".

    - pre-push: the pushed range, PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF; a push no remote
      commit leads to (a first push: no FROM, or an all-zero one) is checked from the roots;
    - commit-msg (``--commit-msg``): the staged change, with the message's trailers;
    - commit: the staged change, and each file named that it does not touch as it is
      (``pre-commit run --all-files``: present hazards block, like ``vfiolint check FILE``).
    """
    from vfiolint.inputs import git

    from_ref = os.environ.get("PRE_COMMIT_FROM_REF", "")
    to_ref = os.environ.get("PRE_COMMIT_TO_REF", "")
    local = os.environ.get("PRE_COMMIT_LOCAL_BRANCH", "")
    if from_ref.strip("0") and to_ref:
        args.git, args.inputs = f"{from_ref}..{to_ref}", []
        return ""
    if to_ref or local:
        git.require_repository(args.repo)
        remote = os.environ.get("PRE_COMMIT_REMOTE_NAME")
        args.git, args.inputs = git.first_push_range(args.repo, to_ref or local, remote), []
        args.git_label = f"{to_ref or local} (first push: from its root)"
        return ""
    args.staged = True
    if args.commit_msg:
        names, args.inputs = args.inputs, []
        if not names:
            return ""
        try:
            return git.clean_message(Path(names[0]).read_text(encoding="utf-8",
                                                              errors="replace"))
        except OSError as exc:
            raise UsageError(f"{names[0]}: cannot read: {exc.strerror or exc}") from exc
    if args.inputs:
        git.require_repository(args.repo)
        top = git.toplevel(args.repo)
        staged = git.staged_paths(args.repo)
        args.inputs = [name for name in args.inputs
                       if Path(os.path.relpath(Path(name).resolve(), top)).as_posix()
                       not in staged]
    return ""


def _how_to_go_on(findings: list[Finding]) -> None:
    """End a refusal with how to accept a finding knowingly and where its rule is explained."""
    from vfiolint.report import problems

    blamed = [f for f, is_blamed in problems(findings) if is_blamed]
    ids = sorted({f.rule for f in blamed})
    rule = ids[0] if len(ids) == 1 else "ID"
    ways = f"'/* vfiolint: ignore[{rule}] <reason> */' on or above its line"
    if any(f.patch is not None for f in blamed):  # a change: its commit message may waive
        ways += (f", or a 'Vfiolint-Waive: {rule} <reason>' trailer in the commit message (the "
                 "vfiolint-commit-msg hook reads it at commit time")
        ways += "; a file checked as it is takes only the comment)" if any(
            f.patch is None for f in blamed) else ")"
    print(f"vfiolint: to accept a finding knowingly, write {ways}", file=sys.stderr)
    print("vfiolint: why it is a hazard and what to write instead: "
          + ", ".join(f"vfiolint explain {i}" for i in ids), file=sys.stderr)


def _cache_limit(given: float | None) -> int:
    """Return the cache's size bound in bytes: ``--cache-limit``, else
    ``$VFIOLINT_CACHE_LIMIT``, else the default (MiB; 0: no bound)."""
    from vfiolint.c.cache import LIMIT_MIB

    where = "--cache-limit"
    if given is None:
        text = os.environ.get("VFIOLINT_CACHE_LIMIT", "").strip()
        where = "VFIOLINT_CACHE_LIMIT"
        try:
            given = float(text) if text else float(LIMIT_MIB)
        except ValueError:
            given = -1.0
    if given < 0 or given != given:
        raise UsageError(f"{where} must be a number of MiB, or 0 for no bound")
    return int(given * (1 << 20))


def _cmd_index(args: argparse.Namespace) -> int:
    """Run ``vfiolint index``."""
    from vfiolint.run import build_index

    stats = build_index(args.repo, args.revision, args.cache_dir, args.jobs,
                        _cache_limit(args.cache_limit))
    print(f"{args.revision}: tree {stats.tree[:12]}: {stats.files} C files, {stats.names} names"
          f" in {stats.seconds:.2f} s ({stats.cache})")
    return EXIT_CLEAN


def _cmd_rules(args: argparse.Namespace) -> int:
    """Run ``vfiolint rules``."""
    from vfiolint.rules.loader import load_rules

    for rule in load_rules(args.rules):
        if args.all_rules:
            print(f"{rule.id}  {rule.name:<26} {rule.status:<12} {rule.severity.value:<8} "
                  f"{rule.summary}")
        elif rule.enabled:
            print(f"{rule.id}  {rule.name:<26} {rule.severity.value:<8} {rule.summary}")
    return EXIT_CLEAN


def _cmd_explain(args: argparse.Namespace) -> int:
    """Run ``vfiolint explain ID``."""
    from vfiolint.rules.loader import load_rules, resolve_rules

    known = load_rules(args.rules)
    wanted = resolve_rules(known, [args.rule], "explain")
    for rule in known:
        if rule.id in wanted:
            print(rule.explain(), end="")
    return EXIT_CLEAN


def _bot_rules(args: argparse.Namespace, select: frozenset[str] | None,
               ignore: frozenset[str], where: str) -> list[Rule]:
    """Load the rules the bot's configuration enables; an unknown rule is a usage error."""
    from vfiolint.rules.loader import load_rules, resolve_rules, select_rules

    rules = load_rules(args.rules)
    chosen = resolve_rules(rules, sorted(select), f"{where}: [rules] select") \
        if select is not None else None
    return select_rules(rules, chosen, resolve_rules(rules, sorted(ignore),
                                                     f"{where}: [rules] ignore"))


def _cmd_bot(args: argparse.Namespace) -> int:
    """Run ``vfiolint bot run`` or ``vfiolint bot status``."""
    import json
    import signal
    import threading

    from vfiolint.bot.runner import Bot, BotBusy, RunSummary, locked
    from vfiolint.bot.state import State
    from vfiolint.bot.status import status, status_lines

    if args.bot_command == "status":
        state = State(args.state, readonly=True)
        try:
            doc = status(state)
        finally:
            state.close()
        print(json.dumps(doc, indent=2) if args.json else "\n".join(status_lines(doc)))
        return EXIT_CLEAN

    from vfiolint.bot.archive import open_archive
    from vfiolint.bot.deliver import Delivery, FileDelivery, SmtpDelivery
    from vfiolint.bot.settings import Clock, load_settings

    settings = load_settings(args.config)
    rules = _bot_rules(args, settings.rules.select, settings.rules.ignore,
                       str(args.config or "configuration"))
    delivery: Delivery
    if args.dry_run is not None and args.dry_run.exists() and not args.dry_run.is_dir():
        raise UsageError(f"--dry-run {args.dry_run}: not a directory")
    if args.dry_run is not None:
        delivery = FileDelivery(args.dry_run)
    elif settings.smtp is not None:
        delivery = SmtpDelivery(settings.smtp)
    else:
        raise UsageError("bot run needs --dry-run DIR, or an [smtp] host in --config")
    if args.follow and args.archive == "-":
        raise UsageError("--follow cannot poll standard input; give an archive directory")
    archive = open_archive(args.archive)
    clock = Clock.from_environment()
    dirs = tuple(d for d in (settings.records, args.dry_run) if d is not None)
    try:
        with locked(args.state):
            state = State(args.state)
            bot = Bot(settings, rules, state, archive, delivery, clock, dirs, args.debug)
            try:
                def report(summary: RunSummary) -> None:
                    if not args.quiet or summary.busy:
                        print(f"vfiolint bot: {summary.line()}", flush=True)

                if not args.follow:
                    report(bot.run_once())
                    return EXIT_CLEAN
                stop = threading.Event()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, lambda *_: stop.set())
                bot.follow(stop, report)
            finally:
                state.close()
    except BotBusy as exc:
        print(f"vfiolint: {exc}", file=sys.stderr)
    return EXIT_CLEAN


def one_line(message: str) -> str:
    """Keep an error on one line: line breaks in names or quoted input become escapes."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


def _tolerant_streams() -> None:
    """Let any character reach standard output and error (names that are not UTF-8 arrive as
    lone surrogates): what cannot be encoded is written as a backslash escape."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _hold_stdin() -> None:
    """Put /dev/null on a closed standard input, so that no pipe or file the run opens takes
    descriptor 0 and is read as the input ``-``."""
    try:
        os.fstat(0)
    except OSError:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd != 0:
            os.close(fd)


def main(argv: list[str] | None = None) -> int:
    """Run vfiolint and return its exit code."""
    _tolerant_streams()
    _hold_stdin()
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"vfiolint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="vfiolint: %(message)s")
    commands = {"check": _cmd_check, "index": _cmd_index, "rules": _cmd_rules,
                "explain": _cmd_explain, "bot": _cmd_bot}
    try:
        code = commands[args.command](args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (``vfiolint rules | head``): what it read was right.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CLEAN
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
