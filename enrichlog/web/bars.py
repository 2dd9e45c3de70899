"""Where a timeline's bars go: each job's row on one time axis, in percent of the axis' width.

Each attempt of the row's `attempts` is its own segment, coloured by how it ended (its status:
RETRIED, FAILED, a finished outcome; RUNNING while it has no end), and the waits between attempts
are segments of their own. A job without attempt history is one segment from its start to its end,
coloured by its status. `markup` writes a bar's HTML once per row, so that a page of hundreds of
rows does not run the template's loop over every segment. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup, escape

from enrichlog.commands.timeline import Span, job_span
from enrichlog.read import JobLine, TimelineJob

MIN_WIDTH = 0.4  # percent: an instant (or a job of a few ms in a long timeline) stays visible


@dataclass(frozen=True, slots=True)
class Segment:
    left: float  # percent of the axis from its start
    width: float  # percent of the axis
    kind: str  # "attempt", "wait" or "job"
    outcome: str  # the status it is coloured by; "" for a wait
    label: str  # what it is, in words (the tooltip and the text for screen readers)


def axis(jobs: Sequence[JobLine]) -> Span:
    """From the first job's start to the last one's end."""
    spans = [job_span(j) for j in jobs]
    return min(s for s, _ in spans), max(e for _, e in spans)


def place(span: Span, on: Span) -> tuple[float, float]:
    """(left, width) of `span` on the axis `on`, in percent, within 0..100."""
    total = max((on[1] - on[0]).total_seconds(), 1e-6)
    left = min(100.0, max(0.0, (span[0] - on[0]).total_seconds() / total * 100))
    width = max(MIN_WIDTH, (span[1] - span[0]).total_seconds() / total * 100)
    left = min(left, 100.0 - MIN_WIDTH)
    return round(left, 3), round(min(width, 100.0 - left), 3)


def attempt_spans(job: TimelineJob) -> list[tuple[dict[str, Any], Span]]:
    """Each attempt that has started, with its span: an attempt without an end lasts until the job's
    end (its last event while it runs)."""
    job_end = job_span(job)[1]
    out: list[tuple[dict[str, Any], Span]] = []
    for a in job.attempts:
        if not a.get("startedAt"):
            continue
        start = datetime.fromisoformat(a["startedAt"])
        end = datetime.fromisoformat(a["endedAt"]) if a.get("endedAt") else max(start, job_end)
        out.append((a, (start, max(start, end))))
    return out


def segments(job: TimelineJob, on: Span) -> list[Segment]:
    """The segments of the job's bar on the axis `on`, in time order."""
    attempts = attempt_spans(job)
    if not attempts:
        outcome = job.job_status or job.status
        return [Segment(*place(job_span(job), on), "job", outcome, f"{job.operation}: {outcome}")]
    out: list[Segment] = []
    previous: Span | None = None
    for a, span in attempts:
        if previous is not None and span[0] > previous[1]:
            out.append(Segment(*place((previous[1], span[0]), on), "wait", "",
                               f"wait {(span[0] - previous[1]).total_seconds():.1f} s"))
        outcome = a.get("status") or "RUNNING"
        out.append(Segment(*place(span, on), "attempt", outcome, f"attempt {a.get('attempt', '?')}: {outcome}"))
        previous = span
    return out


def group_segments(children: Sequence[JobLine], on: Span, label: str) -> list[Segment]:
    """A group's bar: one segment per stretch of time in which some of its children ran, stretches
    less than MIN_WIDTH of the axis apart merged into one (so that the bar stays a few segments)."""
    gap = timedelta(seconds=max((on[1] - on[0]).total_seconds(), 1e-6) * MIN_WIDTH / 100)
    stretches: list[list[datetime]] = []
    for start, end in sorted(job_span(c) for c in children):
        if stretches and start <= stretches[-1][1] + gap:
            stretches[-1][1] = max(stretches[-1][1], end)
        else:
            stretches.append([start, end])
    return [Segment(*place((start, end), on), "group", "SUCCESS", label) for start, end in stretches]


def markup(segs: list[Segment]) -> tuple[Markup, Markup]:
    """A bar's accessible label (its segments' labels) and its segments as HTML spans, escaped."""
    label = ", ".join(escape(s.label) for s in segs)
    spans = "".join(f'<span class="seg {escape(s.kind)}{f" o-{escape(s.outcome)}" if s.outcome else ""}" '
                    f'style="left: {s.left}%; width: {s.width}%" title="{escape(s.label)}"></span>' for s in segs)
    return Markup(label), Markup(spans)  # every value in them is escaped above


def attempt_errors(job: TimelineJob) -> list[str]:
    """Each attempt's error as one line: attempt number, kind, code, message, duration."""
    out = []
    for a in job.attempts:
        error = a.get("error")
        if not error:
            continue
        said = " ".join(str(x) for x in (error.get("kind"), error.get("code"), error.get("message")) if x)
        took = f" ({a['durationMs']} ms)" if a.get("durationMs") is not None else ""
        out.append(f"attempt {a.get('attempt', '?')}: {said}{took}")
    return out
