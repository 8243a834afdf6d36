"""The ``[[flow]]`` tables of a rule file: their keys, how they are checked when rules load,
and the ``FlowSpec`` each becomes (``flows.py`` judges a spec with the C model's value flow and
guard conditions; loading a rule needs none of it).

After Semgrep's taint mode and CodeQL's guard conditions:

- ``sources``: a query whose ``@source`` is an expression whose value is dangerous;
- ``sinks``: a query whose ``@sink`` is where it must not arrive (with no sources, every sink
  is judged on its guards alone);
- ``barriers``: a query whose ``@barrier`` ends a trace harmlessly (a log message);
- ``clear_ends``: ends (``barrier``, ``state``, ...) that clear the whole source: one trace
  that ends there makes the source harmless, whatever its other traces do (a result compared
  with its length once is checked; one returned out of view is the callers' to check);
- ``sanitizers``: a query matched inside the *guards* of the source, the sink or any step
  between (``sanitize = "guard"``, the default; a guard that calls one of the unit's helpers
  is read through the helper's returns and tests), anywhere around them
  (``sanitize = "around"``), or anywhere in their own function and the unit's functions it
  calls (``sanitize = "function"``: a check the function makes at all, not one its callers or
  their other callees make). With ``same_value = "<capture>"`` the sanitizer's ``@checked``
  must hold the same value (by origin) as that capture of the source or sink; with
  ``same_root = true`` as well, a check of another member of the same struct counts (the
  variables the two access paths start from hold the same value: a cap on ``req->argsz``
  bounds what ``req->bitmap.size`` may be checked against). A pattern may
  say which truth value of its atom sanitises with ``(#set! holds "false")``.
- ``around``: a sanitizer query matched anywhere in the neighbourhood, besides the guards;
  with ``same_value``, a pattern that captures ``@checked`` counts only for the same value.
  ``around_depth`` says how far: the call-graph steps each way from the source's function
  (2, the default), or 0 for only the functions the trace passes through (a helper every
  function calls, such as a log function, then joins nothing).
- ``gate``: a query whose ``@gate`` atom must guard the source (or the sink, with no
  sources), with ``gate_holds`` (``true``, ``false``, ``any``; per pattern ``#set! holds``);
- ``requires = "narrowing"``: the value must pass through a type narrower than it on the way
  (``narrowing_kind`` names the capture, ``offset`` or ``size``, that says how wide it is);
- ``ends``: how a trace must end to count (``sink``, ``state``, ``call``, ``compare``,
  ``discarded``: thrown away where it is made, ``f();`` or ``(void)f();``) and
  ``lower``: ends that count one confidence step lower (a sink out of view); sources with
  ``ends`` other than ``sink`` need no sinks (a result only tested for an error ends at the
  test);
- ``kills``: a local's later unconditional redefinition hides its earlier value from the
  uses after it (one ``ret`` for several calls);
- ``members``: ``unit`` (the default) follows a value stored in a struct member to every
  read of that member in the unit; ``function`` only to the reads after it in the same
  function (each call of a handler fills its own message);
- ``context``: a query that must match in the neighbourhood for the flow to be judged;
- ``evidence``: for a hunk that cuts the function short, a query that, matched in the
  function, makes a gate with nothing visibly gated a finding one confidence step lower;
- ``report``: which node is the finding (``source``, ``sink``, ``gate``, ``narrowing``).
"""

from __future__ import annotations

from dataclasses import dataclass

REPORTS = ("source", "sink", "gate", "narrowing")
ENDS = ("sink", "state", "call", "compare", "dead", "discarded")
HOLDS = ("true", "false", "any")
SANITIZE = ("guard", "around", "function")  # where 'sanitizers' count
MEMBERS = ("unit", "function")  # how far a value stored in a struct member is followed
QUERY_KEYS = ("sources", "sinks", "barriers", "sanitizers", "around", "gate", "context",
              "evidence")
CAPTURES = {"sources": "source", "sinks": "sink", "barriers": "barrier",
            "sanitizers": "sanitizer", "around": "sanitizer", "gate": "gate",
            "context": "context",
            "evidence": "evidence"}
KEYS = {*QUERY_KEYS, "sanitize", "same_value", "same_root", "members", "gate_holds",
        "requires", "narrowing_kind",
        "ends", "lower", "report", "message", "name", "arithmetic", "evidence_message",
        "pointers", "clear_ends", "kills", "around_depth"}


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """One ``[[flow]]`` table of a rule file."""

    name: str
    sources: str | None
    sinks: str | None
    barriers: str | None
    sanitizers: str | None
    around: str | None
    gate: str | None
    context: str | None
    evidence: str | None
    sanitize: str
    same_value: str | None
    gate_holds: str
    requires: str | None
    narrowing_kind: str | None
    ends: tuple[str, ...]
    lower: tuple[str, ...]
    report: str
    message: str | None
    arithmetic: bool = True
    evidence_message: str | None = None
    pointers: bool = True
    same_root: bool = False
    members: str = "unit"
    clear_ends: tuple[str, ...] = ()
    kills: bool = False
    around_depth: int = 2

    def queries(self) -> dict[str, str]:
        """Return the spec's queries by key."""
        return {k: q for k in QUERY_KEYS if (q := getattr(self, k)) is not None}


def _strings(value: object) -> list[str]:
    """Return a table's list value as strings (nothing for a missing key)."""
    return [str(v) for v in value] if isinstance(value, list) else []


def check_flow(data: dict[str, object]) -> list[str]:
    """Return the problems of one ``[[flow]]`` table (empty when it is valid)."""
    problems = [f"flow: unknown key '{k}'" for k in data if k not in KEYS]
    listed = [*_strings(data.get("ends")), *_strings(data.get("lower"))]
    ends_without_sinks = "sources" in data and any(e != "sink" for e in listed)
    if "sinks" not in data and "gate" not in data and not ends_without_sinks:
        problems.append("flow: needs 'sinks' (or a 'gate' with 'evidence', or 'sources' "
                        "with 'ends' other than 'sink')")
    for key, choices in (("report", REPORTS), ("gate_holds", HOLDS), ("sanitize", SANITIZE),
                         ("members", MEMBERS)):
        if key in data and data[key] not in choices:
            problems.append(f"flow: {key} '{data[key]}' is not one of {', '.join(choices)}")
    for key, allowed in (("ends", ENDS), ("lower", ENDS), ("clear_ends", (*ENDS, "barrier"))):
        for end in data.get(key, []):  # type: ignore[attr-defined]
            if end not in allowed:
                problems.append(f"flow: {key}: '{end}' is not one of {', '.join(allowed)}")
    if "barrier" in _strings(data.get("clear_ends")) and "barriers" not in data:
        problems.append("flow: clear_ends 'barrier' needs 'barriers'")
    if data.get("requires") not in (None, "narrowing"):
        problems.append("flow: requires must be 'narrowing'")
    depth = data.get("around_depth", 2)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
        problems.append("flow: around_depth must be a whole number, 0 or more")
    if data.get("report") == "source" and "sources" not in data:
        problems.append("flow: report 'source' needs 'sources'")
    for key in QUERY_KEYS:
        if key in data and f"@{CAPTURES[key]}" not in str(data[key]):
            problems.append(f"flow: {key}: captures no @{CAPTURES[key]}")
    return problems


def flow_spec(data: dict[str, object]) -> FlowSpec:
    """Build a FlowSpec from a validated table."""

    def text(key: str) -> str | None:
        value = data.get(key)
        return str(value) if value is not None else None

    return FlowSpec(
        name=str(data.get("name", "")), sources=text("sources"), sinks=text("sinks"),
        barriers=text("barriers"), sanitizers=text("sanitizers"), around=text("around"),
        gate=text("gate"),
        context=text("context"), evidence=text("evidence"),
        sanitize=str(data.get("sanitize", "guard")), same_value=text("same_value"),
        gate_holds=str(data.get("gate_holds", "true")), requires=text("requires"),
        narrowing_kind=text("narrowing_kind"),
        ends=tuple(str(e) for e in data.get("ends", ["sink"])),  # type: ignore[attr-defined]
        lower=tuple(str(e) for e in data.get("lower", [])),  # type: ignore[attr-defined]
        report=str(data.get("report", "sink" if "sinks" in data else "gate")),
        message=text("message"), arithmetic=bool(data.get("arithmetic", True)),
        evidence_message=text("evidence_message"), pointers=bool(data.get("pointers", True)),
        same_root=bool(data.get("same_root", False)),
        members=str(data.get("members", "unit")),
        clear_ends=tuple(_strings(data.get("clear_ends"))),
        kills=bool(data.get("kills", False)),
        around_depth=depth if isinstance(depth := data.get("around_depth", 2), int) else 2,
    )


def compile_check(spec: FlowSpec) -> list[str]:
    """Return the problems of a spec's queries (compile errors)."""
    import tree_sitter  # only a rule whose queries are compiled as it loads needs the parser

    from vfiolint.c import cparse

    problems = []
    for key, text in spec.queries().items():
        try:
            cparse.query(text)
        except (tree_sitter.QueryError, ValueError) as exc:
            problems.append(f"flow: {key}: {' '.join(str(exc).split())}")
    return problems
