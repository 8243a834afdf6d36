"""Load and validate ``rules/**/*.toml`` into Rule values; queries are compiled at load.

Every problem of every rule file is collected, then reported together as one RuleError whose
lines each name the file and the problem.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import sys
import tomllib
from collections.abc import Container, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vfiolint.errors import RuleError, VfiolintError
from vfiolint.findings import Confidence, Severity
from vfiolint.rules.flowspec import FlowSpec, check_flow, compile_check, flow_spec
from vfiolint.rules.keywords import keyword_parts, keyword_sets
from vfiolint.rules.predicates import check_calls, custom_predicates

if TYPE_CHECKING:
    import tree_sitter

    from vfiolint.config import Config

REQUIRED = ("id", "name", "summary", "severity", "confidence", "status", "message", "doc")
KNOWN = {*REQUIRED, "query", "flow", "paths", "keywords", "references", "corpus", "cwe",
         "one_per_function", "absence_of_guard"}
STATUSES = ("experimental", "preview", "stable", "deprecated", "removed")
DOC_HEADINGS = ("## Why is this bad?", "## Example", "## Use instead", "## Known problems")
ID_RE = re.compile(r"^VFIO\d{3}$")
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class UnknownRuleError(VfiolintError):
    """A rule ID or name, on the command line or in configuration, that names no rule."""


def default_rules_dir() -> Path:
    """Return the bundled rules: vfiolint/_rules when installed (the repository's rules/ for an
    editable install), else rules/ beside the package in a source tree."""
    spec = importlib.util.find_spec("vfiolint._rules")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "rules"


@dataclass(frozen=True, slots=True)
class Rule:
    """A loaded, validated rule."""

    id: str
    name: str
    summary: str
    severity: Severity
    confidence: Confidence
    status: str
    message: str
    query_text: str
    doc: str
    paths: tuple[str, ...]
    keywords: tuple[bytes, ...]
    references: tuple[str, ...]
    corpus: tuple[str, ...]
    cwe: tuple[str, ...]
    one_per_function: bool
    absence_of_guard: bool
    file: Path
    flows: tuple[FlowSpec, ...] = ()
    prefilter: bool = True  # --no-prefilter: run even where none of the keywords occurs

    @property
    def enabled(self) -> bool:
        """Tell whether the rule runs unless selected by name (experimental ones do not)."""
        return self.status not in {"experimental", "removed"}

    @property
    def query(self) -> tree_sitter.Query | None:
        """Return the compiled query (None for a rule stated only as flows)."""
        from vfiolint.c import cparse  # the parser is loaded when a rule first runs

        return cparse.query(self.query_text) if self.query_text else None

    def wants(self, path: str, keywords_found: Container[bytes]) -> bool:
        """Tell whether the rule can match a file, given which keyword parts occur in it (or
        in its path): a keyword ``a&b`` needs both parts."""
        if self.paths and not any(path_matches(path, p) for p in self.paths):
            return False
        if not self.prefilter or not self.keywords:
            return True
        if isinstance(keywords_found, (set, frozenset)):  # one C call per keyword
            return any(map(keywords_found.issuperset, keyword_sets(self.keywords)))
        # Parts in the keyword's order: a lazy Presence scans for the next only if needed.
        return any(all(part in keywords_found for part in keyword_parts(k))
                   for k in self.keywords)

    def explain(self) -> str:
        """Return the rule's documentation as ``vfiolint explain`` prints it."""
        head = f"# {self.id} {self.name}\n\n{self.summary}\n\n"
        meta = (f"Severity: {self.severity}. Confidence: {self.confidence}. "
                f"Status: {self.status}.\n\n")
        refs = "".join(f"- {r}\n" for r in self.references)
        tail = f"\n## References\n{refs}" if refs else ""
        corpus = "".join(f"- {c}\n" for c in self.corpus)
        tail += f"\n## Corpus\n{corpus}" if corpus else ""
        return head + meta + self.doc.strip() + "\n" + tail


def path_matches(path: str, pattern: str) -> bool:
    """Match a rule's path glob: a pattern that names a repository path
    (``drivers/pci/p2pdma.c``) matches it at any folder of the path, so that the same file
    is judged the same given as ``./drivers/...``, from a parent folder or as an absolute
    path."""
    if fnmatch.fnmatch(path, pattern):
        return True
    return not pattern.startswith(("*", "/")) and fnmatch.fnmatch(path, "*/" + pattern)


def check_rule(data: dict[str, object], file: Path, root: Path | None = None,
               compile_queries: bool = True) -> list[str]:
    """Return every problem of one rule file's data (empty when it is valid); with the
    repository ``root``, also check that its corpus files exist. ``compile_queries=False``
    leaves the tree-sitter queries to compile when a rule first runs (the bundled rules,
    whose queries the test suite compiles)."""
    local = file.with_suffix(".py")
    if local.is_file():  # the rule's own predicates register themselves
        try:
            load_rule_module(local)
        except Exception as exc:  # a broken rule module is that rule file's problem
            return [f"{local.name}: {type(exc).__name__}: {' '.join(str(exc).split())}"]
    problems = [f"missing key '{k}'" for k in REQUIRED if k not in data]
    problems += [f"unknown key '{k}'" for k in data if k not in KNOWN]
    if problems:
        return problems
    rid, name = str(data["id"]), str(data["name"])
    if not ID_RE.match(rid):
        problems.append(f"id '{rid}' is not VFIO and three digits")
    if not NAME_RE.match(name):
        problems.append(f"name '{name}' is not kebab-case")
    if file.stem != f"{rid}-{name}":
        problems.append(f"file name should be {rid}-{name}.toml")
    if data["severity"] not in {s.value for s in Severity}:
        problems.append(f"severity '{data['severity']}' is not error, warning or note")
    if data["confidence"] not in {c.value for c in Confidence}:
        problems.append(f"confidence '{data['confidence']}' is not high, medium or low")
    if data["status"] not in STATUSES:
        problems.append(f"status '{data['status']}' is not one of {', '.join(STATUSES)}")
    message = str(data["message"])
    if len(message) > 80 or message.endswith("."):
        problems.append("message must be at most 80 characters with no final period")
    doc = str(data["doc"])
    places = [doc.find(h) for h in DOC_HEADINGS]
    if -1 in places or places != sorted(places):
        problems.append(f"doc must have the headings {', '.join(DOC_HEADINGS)} in that order")
    corpus = data.get("corpus", [])
    if data["status"] == "stable" and not corpus:
        problems.append("a stable rule names its founding document in 'corpus'")
    if root is not None:
        problems += [f"corpus file {c} does not exist" for c in corpus  # type: ignore[attr-defined]
                     if not (root / str(c)).is_file()]
    if "query" not in data and "flow" not in data:
        problems.append("a rule needs a 'query' or at least one [[flow]]")
    query = str(data.get("query", ""))
    if query:
        problems += check_calls(query)
        if "@finding" not in query:
            problems.append("query: captures no @finding")
        if compile_queries:
            problems += _query_problems(query)
    flows = data.get("flow", [])
    if not isinstance(flows, list) or not all(isinstance(f, dict) for f in flows):
        problems.append("flow: must be an array of tables ([[flow]])")
        flows = []
    for table in flows:
        found = check_flow(table)
        if not found:
            spec = flow_spec(table)
            found = compile_check(spec) if compile_queries else []
            for text in spec.queries().values():
                found += check_calls(text)
        problems += found
    return problems


def _query_problems(query: str) -> list[str]:
    """Return the problems of compiling a rule's query."""
    import tree_sitter

    from vfiolint.c import cparse

    try:
        compiled = cparse.query(query)
    except (tree_sitter.QueryError, ValueError) as exc:
        return [f"query: {' '.join(str(exc).split())}"]
    if len(custom_predicates(query)) != compiled.pattern_count:
        return ["query: its patterns could not be told apart for #vf- predicates"]
    return []


def _rule_of(data: dict[str, object], file: Path) -> Rule:
    """Build a Rule from validated data."""
    def strings(key: str) -> tuple[str, ...]:
        return tuple(str(x) for x in data.get(key, []))  # type: ignore[attr-defined]

    return Rule(
        id=str(data["id"]), name=str(data["name"]), summary=str(data["summary"]),
        severity=Severity(str(data["severity"])), confidence=Confidence(str(data["confidence"])),
        status=str(data["status"]), message=str(data["message"]),
        query_text=str(data.get("query", "")),
        doc=str(data["doc"]), paths=strings("paths"),
        keywords=tuple(k.encode() for k in strings("keywords")), references=strings("references"),
        corpus=strings("corpus"), cwe=strings("cwe"),
        one_per_function=bool(data.get("one_per_function", False)),
        absence_of_guard=bool(data.get("absence_of_guard", False)), file=file,
        flows=tuple(flow_spec(t) for t in data.get("flow", [])),  # type: ignore[attr-defined]
    )


def load_rules(directory: Path | None = None) -> list[Rule]:
    """Load every rule file below a directory, sorted by ID; raise RuleError listing all problems.

    A rules directory given by the user is checked whole, queries compiled; the bundled rules'
    queries compile when a rule first runs (the test suite compiles them all), so that a
    run that needs three rules does not pay for thirteen."""
    given = directory is not None
    directory = directory or default_rules_dir()
    files = sorted(directory.rglob("*.toml"))
    if not files:
        raise RuleError(f"{directory}: no rule files")
    rules: list[Rule] = []
    problems: list[str] = []
    for file in files:
        shown = file.relative_to(directory.parent)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            problems.append(f"{shown}: {exc}")
            continue
        found = check_rule(data, file, compile_queries=given)
        problems += [f"{shown}: {p}" for p in found]
        if not found:
            rules.append(_rule_of(data, file))
    ids = [r.id for r in rules]
    problems += [f"{r.file.name}: duplicate id {r.id}" for r in rules if ids.count(r.id) > 1]
    if problems:
        raise RuleError("\n".join(problems))
    return sorted((r for r in rules if r.status != "removed"), key=lambda r: r.id)


def load_rule_module(path: Path) -> None:
    """Import a rule's own Python (its predicates register themselves); once per file."""
    name = "vfiolint._rule_" + re.sub(r"\W", "_", path.stem)
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def rules_holding(rules: list[Rule], path: str, config: Config,
                  found: Container[bytes]) -> list[Rule]:
    """Keep the rules that can match a file, given which keyword parts it (with its path)
    holds (the keyword pre-filter: nothing is parsed)."""
    if config.excluded(path):
        return []
    return [r for r in rules
            if not config.ignored_here(r.id, r.name, path) and r.wants(path, found)]


def rule_names(rules: list[Rule]) -> frozenset[str]:
    """Return every ID and name the rules answer to (what waivers and --select may name)."""
    return frozenset(r.id for r in rules) | frozenset(r.name for r in rules)


def resolve_rules(rules: list[Rule], names: Iterable[str], where: str) -> frozenset[str]:
    """Return the IDs of the rules named by ID (in any case) or name; raise UnknownRuleError,
    suggesting the closest ID or name, for one that names no rule."""
    by_key = {key.casefold(): r.id for r in rules for key in (r.id, r.name)}
    ids = set()
    for name in names:
        found = by_key.get(name.strip().casefold())
        if found is None:
            raise UnknownRuleError(f"{where}: unknown rule '{name}'; {_suggestion(rules, name)}")
        ids.add(found)
    return frozenset(ids)


def _suggestion(rules: list[Rule], name: str) -> str:
    """Say which known ID or name is closest to a mistyped one, or where to find them."""
    import difflib  # only a mistyped name needs it

    spelled = {key.casefold(): key for r in rules for key in (r.id, r.name)}
    close = difflib.get_close_matches(name.casefold(), list(spelled), n=1)
    return f"did you mean {spelled[close[0]]}?" if close else "'vfiolint rules' lists them"


def select_rules(rules: list[Rule], select: frozenset[str] | None,
                 ignore: frozenset[str]) -> list[Rule]:
    """Keep the rules whose IDs ``select`` holds and ``ignore`` does not. With no selection,
    every enabled rule runs: an experimental one runs only when selected by name."""
    return [r for r in rules if (r.id in select if select is not None else r.enabled)
            and r.id not in ignore]
