"""The summary of a bot's state, for ``vfiolint bot status``: archive positions, counts,
the series waiting, the latest verdicts, and the replies that need a look."""

from __future__ import annotations

from datetime import UTC, datetime

from vfiolint.bot.state import State


def _when(seconds: float | None) -> str | None:
    """Render a time for the status."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status(state: State) -> dict[str, object]:
    """Summarise a state: positions, messages, series, replies, and what needs a look."""
    last = state.meta("last_run")
    waiting = [{"id": s.id, "subject": s.subject, "revision": s.revision,
                "have": sorted(c for c in state.counters(s.id) if c), "expected": s.expected,
                "since": _when(s.first_seen)} for s in state.open_series()]
    recent = [{"id": s.id, "state": s.state, "subject": s.subject, "revision": s.revision,
               "previous": s.previous, "decided": _when(s.decided), "reason": s.reason,
               "replies": [{"message_id": r.message_id, "state": r.state}
                           for r in state.series_replies(s.id)]}
              for s in state.recent_series(10)]
    attention = [{"message_id": r.message_id, "series": r.series, "state": r.state,
                  "attempts": r.attempts, "error": r.last_error,
                  "next_attempt": _when(r.next_attempt) if r.state == "pending" else None}
                 for kind in ("pending", "uncertain", "failed") for r in state.replies(kind)]
    return {
        "state": str(state.path),
        "last_run": _when(float(last)) if last else None,
        "positions": [{"archive": a, "part": p, "position": pos, "updated": _when(t)}
                      for a, p, pos, t in state.all_cursors()],
        "messages": state.message_counts(),
        "series": state.series_counts(),
        "replies": state.reply_counts(),
        "waiting": waiting,
        "recent": recent,
        "attention": attention,
    }


def _counts(counts: object) -> str:
    """Render a count table as ``3 checked, 1 skipped``."""
    assert isinstance(counts, dict)
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"


def status_lines(doc: dict[str, object]) -> list[str]:
    """Render a status summary as text."""
    lines = [f"state {doc['state']}, last run {doc['last_run'] or 'never'}"]
    for pos in doc["positions"]:  # type: ignore[attr-defined]
        lines.append(f"  {pos['archive']} {pos['part']}: at {pos['position'][:12]} "
                     f"({pos['updated']})")
    lines += [f"messages: {_counts(doc['messages'])}", f"series: {_counts(doc['series'])}",
              f"replies: {_counts(doc['replies'])}"]
    waiting = doc["waiting"]
    assert isinstance(waiting, list)
    if waiting:
        lines.append("waiting:")
        lines += [f"  #{w['id']} v{w['revision']} {w['subject']}: "
                  f"{len(w['have'])}/{w['expected']} since {w['since']}" for w in waiting]
    recent = doc["recent"]
    assert isinstance(recent, list)
    if recent:
        lines.append("recent:")
        for s in recent:
            sent = ", ".join(f"<{r['message_id']}> {r['state']}" for r in s["replies"])
            lines.append(f"  #{s['id']} {s['state']} v{s['revision']} {s['subject']}: "
                         f"{s['reason'] or ''}" + (f"; reply {sent}" if sent else ""))
    attention = doc["attention"]
    assert isinstance(attention, list)
    if attention:
        lines.append("replies to look at:")
        lines += [f"  <{a['message_id']}> (series #{a['series']}) {a['state']}, "
                  f"{a['attempts']} attempt(s)"
                  + (f", next {a['next_attempt']}" if a["next_attempt"] else "")
                  + (f": {a['error']}" if a["error"] else "") for a in attention]
    return lines
