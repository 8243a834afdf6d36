"""run(rules, units) -> findings: match every rule on both images, then assign each status.

Status never comes from filtering by changed lines: a match in the post-image only is
``introduced``, in the pre-image only ``fixed``, in both (paired by fingerprint, never by line)
``present`` when the patch touches its function.
"""

from __future__ import annotations

import os
from collections import OrderedDict, defaultdict
from collections.abc import Container, Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from tree_sitter import Node

from vfiolint.c import cparse
from vfiolint.c.definitions import NO_DEFINITIONS, Definitions, Logged, Question, Recording, agrees
from vfiolint.c.facts import Facts
from vfiolint.c.flow import Trace
from vfiolint.c.syntax import function_name, head_row, squash, text_of
from vfiolint.config import Config
from vfiolint.coverage import MAX_ERROR_LINES, FileCoverage, ImageCoverage
from vfiolint.findings import Confidence, Finding, FlowStep, PatchRef, Span, Status, fingerprint
from vfiolint.inputs.images import Origin, SourceUnit, UnitPair
from vfiolint.rules import literals
from vfiolint.rules.flows import judge
from vfiolint.rules.keywords import Presence, keyword_parts
from vfiolint.rules.loader import Rule, rule_names, rules_holding
from vfiolint.rules.predicates import Captures, Context, custom_predicates, holds
from vfiolint.waivers import Waiver, inline_waiver

SNIPPET_LINES = 4
DEFAULT_CONFIG = Config()


@dataclass(frozen=True, slots=True)
class Match:
    """One rule match in one image, before it has a status."""

    rule: Rule
    span: Span
    scope: tuple[int, int]
    function: str | None
    text: str
    message: str
    confidence: Confidence
    snippet: tuple[tuple[int, str], ...]
    partial: bool
    waiver: Waiver | None
    flow: tuple[FlowStep, ...] = ()

    def touched(self, unit: SourceUnit) -> bool:
        """Tell whether the change touched the match or the function around it."""
        low, high = self.scope
        return any(low <= line <= high for line in unit.touched)


def real_span(node: Node, unit: SourceUnit) -> Span | None:
    """Map a node to real lines, skipping synthetic rows; None when it has no real row."""
    rows = range(node.start_point.row, node.end_point.row + 1)
    lines = [line for row in rows if (line := unit.real_line(row)) is not None]
    if not lines:
        return None
    first = unit.real_line(node.start_point.row)
    column = node.start_point.column + 1 if first is not None else 1
    return Span(lines[0], lines[-1], column, node.end_point.column + 1)


def _snippet(node: Node, unit: SourceUnit, rows: list[bytes]) -> tuple[tuple[int, str], ...]:
    """Return the real lines a match covers, at most a few."""
    out = []
    for row in range(node.start_point.row, node.end_point.row + 1):
        line = unit.real_line(row)
        if line is not None and row < len(rows):
            out.append((line, rows[row].decode("utf-8", "replace").rstrip()))
    return tuple(out[:SNIPPET_LINES])


def _message(rule: Rule, pattern: int, captures: Captures, notes: dict[str, str]) -> str:
    """Fill the pattern's message (``#set! message``, else the rule's) from captures and notes."""
    fields = {name: squash(text_of(nodes[0]))[:60] for name, nodes in captures.items() if nodes}
    fields.update(notes)
    assert rule.query is not None
    template = rule.query.pattern_settings(pattern).get("message") or rule.message
    return _fill(str(template), fields)


def _fill(template: str, fields: dict[str, str]) -> str:
    """Fill a message template; a field nobody set is empty."""
    values: defaultdict[str, str] = defaultdict(str)
    values.update(fields)
    return template.format_map(values)




def measure(tree_root: Node, unit: SourceUnit) -> ImageCoverage:
    """Count a parse's ERROR and MISSING nodes and the real lines they start on."""
    errors = list(cparse.error_nodes(tree_root))
    lines = {line for n in errors if (line := unit.real_line(n.start_point.row)) is not None}
    return ImageCoverage(True, len(errors), tuple(sorted(lines)[:MAX_ERROR_LINES]))


def mentions(rules: list[Rule], *texts: bytes) -> frozenset[bytes]:
    """Return the rules' keywords the texts hold (whatever the pre-filter says): a rule may
    let what a change names decide a guess, the same way for both of its images."""
    wanted = {k for r in rules for k in r.keywords}
    each = [Presence((text,)) for text in texts]  # the pre-filter's answers, kept per text
    return frozenset(k for k in wanted
                     if any(all(part in seen for part in keyword_parts(k)) for seen in each))


def match(rules: list[Rule], unit: SourceUnit, known: frozenset[str] | None = None,
          config: Config = DEFAULT_CONFIG, seen: frozenset[bytes] | None = None
          ) -> tuple[list[Match], ImageCoverage]:
    """Run the given rules on one image and say how much of it could be read.

    Results are cached by content (path, text, line map, rules): in a commit range the
    post-image of one commit is the pre-image of the next, and a blob is parsed once."""
    known = known if known is not None else rule_names(rules)
    if not rules:
        return [], ImageCoverage(False)
    return _cached_match(tuple(rules), unit.path, unit.text, unit.origin, unit.line_map, known,
                         config.macros, config.repo, unit.definitions, config.log_functions,
                         seen if seen is not None else mentions(rules, unit.text))


# A bounded cache on a pure function of immutable values: the run owns no mutable state.
@lru_cache(maxsize=64)
def _cached_match(rules: tuple[Rule, ...], path: str, text: bytes, origin: Origin,
                  line_map: tuple[int | None, ...], known: frozenset[str],
                  macros: tuple[tuple[str, tuple[str, ...]], ...], repo: Path | None,
                  definitions: Definitions, log_functions: frozenset[str] = frozenset(),
                  seen: frozenset[bytes] = frozenset()) -> tuple[list[Match], ImageCoverage]:
    """Parse and match one image (the touched lines do not matter here, only when pairing).

    The parse is of the macro-neutralised text (same length, same line breaks: every row and
    column is the user's); snippets and waivers are read from the original text."""
    key = (rules, path, text, origin, line_map, known, macros, repo, log_functions, seen)
    checking = None  # VFIOLINT_CHECK_JUDGED=1: judge again what was kept, and compare
    if definitions is not NO_DEFINITIONS:
        for asked, kept in _JUDGED.get(key, ()):
            if agrees(asked, definitions):
                if not os.environ.get("VFIOLINT_CHECK_JUDGED"):
                    return kept
                checking = kept
                break
    logged = Logged(definitions)  # every question the tree is asked, and its answer
    recording = Recording(logged)  # the ambiguous names the model meets, for coverage
    unit = SourceUnit(path, text, origin, line_map, definitions=recording)
    active = list(rules)
    from vfiolint.c import prepass  # loaded by the first parse: many runs parse nothing

    table = prepass.table_for(macros, repo)
    tree = prepass.parse(unit.text, table, logged, path)
    facts = Facts(tree, path, recording)
    ctx = Context(unit, facts, log_functions=log_functions, mentions=seen)
    rows = unit.text.split(b"\n")
    matches: list[Match] = []
    for rule in active:
        matches += _rule_matches(rule, ctx, rows, known)
    result = matches, replace(measure(tree.root_node, unit), ambiguous=recording.ambiguous())
    if checking is not None and checking != result:
        raise AssertionError(f"{path}: an image judged again in another tree differs")
    if definitions is not NO_DEFINITIONS and checking is None:
        _JUDGED.setdefault(key, []).append((logged.asked, result))
        _JUDGED.move_to_end(key)
        while len(_JUDGED) > JUDGED_KEPT:
            _JUDGED.popitem(last=False)
    return result


# The same text judged in another tree (a commit's post-image, met again as a later commit's
# pre-image) is judged the same when that tree answers every question the first one was
# asked as it did: its results are kept with the questions and answers, by text and rules.
JUDGED_KEPT = 32
_JUDGED: OrderedDict[tuple[object, ...], list[tuple[dict[Question, object],
                                                    tuple[list[Match], ImageCoverage]]]] = (
    OrderedDict())


def _rule_matches(rule: Rule, ctx: Context, rows: list[bytes],
                  known: frozenset[str]) -> list[Match]:
    """Run one rule's query patterns and flow specs on a parsed unit."""
    found: list[tuple[Node, str, dict[str, str], tuple[FlowStep, ...], bool, str]] = []
    if rule.query is not None:
        checks = custom_predicates(rule.query_text)
        for pattern, captures in literals.matches(rule.query_text, ctx.facts.root, ctx.facts):
            if not holds(ctx, checks[pattern], captures):
                continue
            node = captures["finding"][0]
            notes = ctx.notes.get(node.id, {})
            found.append((node, _message(rule, pattern, captures, notes), notes, (),
                          bool(notes.get("guessed")), squash(text_of(node))))
    for spec in rule.flows:
        for hit in judge(spec, ctx):
            notes = {**hit.fields, **ctx.notes.get(hit.node.id, {})}
            template = hit.message or spec.message or rule.message
            found.append((hit.node, _fill(template, notes), notes, _steps(hit.trace, ctx.unit),
                          hit.lower or bool(notes.get("guessed")), squash(hit.identity)))
    return _matches(rule, ctx, rows, known, found)


def _matches(rule: Rule, ctx: Context, rows: list[bytes], known: frozenset[str],
             found: list[tuple[Node, str, dict[str, str], tuple[FlowStep, ...], bool, str]]
             ) -> list[Match]:
    """Turn a rule's reported nodes into Matches: real lines, function, confidence, waiver."""
    unit = ctx.unit
    seen: set[tuple[int, int]] = set()
    functions: set[str | None] = set()
    out: list[Match] = []
    for node, message, _notes, steps, less_sure, identity in found:
        span = real_span(node, unit)
        if span is None or (node.start_byte, node.end_byte) in seen:
            continue
        seen.add((node.start_byte, node.end_byte))
        fn = ctx.facts.function_of(node)
        name = function_name(fn) if fn is not None else None
        if rule.one_per_function and fn is not None:
            if name in functions:
                continue
            functions.add(name)
        confidence = rule.confidence
        if unit.origin is Origin.HUNKS or node.has_error or less_sure:
            confidence = confidence.lower()
        scope_span = real_span(fn, unit) if fn is not None else None
        scope = (scope_span or span).line, (scope_span or span).end_line
        in_part = unit.origin is Origin.HUNKS and (
            fn is None or unit.real_line(head_row(fn)) is None
            or unit.real_line(fn.end_point.row) is None)
        out.append(Match(
            rule=rule, span=span, scope=scope, function=name, text=identity, message=message,
            confidence=confidence, snippet=_snippet(node, unit, rows), partial=in_part,
            waiver=inline_waiver(rows, node.start_point.row, rule.id, rule.name,
                                 f"{unit.path}:{span.line}", known),
            flow=steps,
        ))
    return out


def _steps(trace: Trace, unit: SourceUnit) -> tuple[FlowStep, ...]:
    """Map a trace's steps to real lines (steps on synthetic lines are left out)."""
    out = []
    for step in trace:
        line = unit.real_line(step.node.start_point.row)
        if line is None:
            continue
        out.append(FlowStep(line, step.node.start_point.column + 1, step.label, step.note,
                            step.type.shown() if step.type is not None else None))
    return tuple(out)


def _finding(m: Match, status: Status, path: str, input_name: str,
             patch: PatchRef | None, key: str | None = None) -> Finding:
    """Make a Finding of a match (``key``: its fingerprint, when already computed)."""
    return Finding(
        rule=m.rule.id, name=m.rule.name, status=status, severity=m.rule.severity,
        confidence=m.confidence, path=path, span=m.span, message=m.message, function=m.function,
        fingerprint=key or _key(m, path), input=input_name,
        patch=patch, snippet=m.snippet, waiver=m.waiver, flow=m.flow, key=m.text,
    )


def _key(m: Match, path: str) -> str:
    """Return the pairing key of a match."""
    return fingerprint(m.rule.id, path, m.function, m.text)


def rules_for(rules: list[Rule], path: str, config: Config, *texts: bytes) -> list[Rule]:
    """Keep the rules that can match a file: not excluded or ignored there, and pre-filtered
    on the keywords they need, in its text or its path.

    A keyword part is looked for only when a rule asks for it, at most once per text: a
    keyword ``vfio_&fd`` whose first part is absent never scans for the second, and a rule
    one of whose keywords is found asks for no more."""
    named = path.encode("utf-8", "surrogateescape")
    return rules_holding(rules, path, config, Presence((*texts, named)))


def compare(pair: UnitPair, rules: list[Rule], input_name: str, patch: PatchRef | None,
                 config: Config = DEFAULT_CONFIG, hunks: int = 0
                 ) -> tuple[list[Finding], FileCoverage]:
    """Match both images of a file, give every hazard its status, and say what was read.

    A rule runs on both images or on neither, so a hazard in both is never half seen."""
    texts = [u.text for u in (pair.pre, pair.post) if u is not None]
    active = (rules_for(rules, pair.path, config, *texts) if pair.parts is None
              else rules_holding(rules, pair.path, config, pair.parts))
    known = rule_names(rules)
    seen = mentions(active, *texts)  # what either image names: both are judged alike
    pre, pre_cov = match(active, pair.pre, known, config, seen) if pair.pre else ([], None)
    post, post_cov = (match(active, pair.post, known, config, seen) if pair.post
                      else ([], None))
    image = pair.post or pair.pre
    origin = image.origin.value if image is not None else "hunks"
    context = (image.context if image is not None else "") or "hunks"
    coverage = FileCoverage(pair.path, origin, hunks, pre_cov, post_cov, context)
    before: defaultdict[str, list[Match]] = defaultdict(list)
    after: defaultdict[str, list[Match]] = defaultdict(list)
    for m in pre:
        before[_key(m, pair.path)].append(m)
    for m in post:
        after[_key(m, pair.path)].append(m)
    findings: list[Finding] = []
    gone: defaultdict[tuple[str, str | None, str], list[Match]] = defaultdict(list)
    came: list[tuple[str, Match]] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, []), after.get(key, [])
        both = min(len(old), len(new))
        findings += _kept(zip(old[:both], new[:both], strict=True), pair, input_name, patch,
                          key)
        came += [(key, m) for m in new[both:]]
        for m in old[both:]:
            gone[(m.rule.id, m.function, m.message)].append(m)
    # A hazard whose code was rewritten (``intr_handle->vfio_dev_fd`` became ``vfio_dev_fd``)
    # is the same hazard: what is left pairs up by rule, function and message, in order.
    for key, m in came:
        same = gone.get((m.rule.id, m.function, m.message))
        if same:
            findings += _kept([(same.pop(0), m)], pair, input_name, patch, key)
        else:
            findings.append(_finding(m, Status.INTRODUCED, pair.path, input_name, patch, key))
    findings += [_finding(m, Status.FIXED, pair.path, input_name, patch)
                 for left in gone.values() for m in left]
    return findings, coverage


def _kept(pairs: Iterable[tuple[Match, Match]], pair: UnitPair, input_name: str,
          patch: PatchRef | None, key: str) -> list[Finding]:
    """Report the hazards both images hold, where the change touched them: present."""
    out = []
    for m_old, m_new in pairs:
        assert pair.pre is not None and pair.post is not None
        if m_new.rule.absence_of_guard and m_new.partial:
            continue  # the guard may sit in the part of the function the hunks do not show
        if m_new.touched(pair.post) or m_old.touched(pair.pre):
            out.append(_finding(m_new, Status.PRESENT, pair.path, input_name, patch, key))
    return out


def check_source(unit: SourceUnit, rules: list[Rule], input_name: str,
                 config: Config = DEFAULT_CONFIG, found: Container[bytes] | None = None
                 ) -> tuple[list[Finding], FileCoverage]:
    """Report every match in a plain source file as present, and say what was read;
    ``found``, when given, is the keyword parts the file and its path hold (the pre-filter's
    answer, known without the text)."""
    active = (rules_for(rules, unit.path, config, unit.text) if found is None
              else rules_holding(rules, unit.path, config, found))
    known = rule_names(rules)
    matches, coverage = match(active, unit, known, config, mentions(active, unit.text))
    return ([_finding(m, Status.PRESENT, unit.path, input_name, None) for m in matches],
            FileCoverage(unit.path, unit.origin.value, 0, None, coverage,
                         unit.context or "file"))

