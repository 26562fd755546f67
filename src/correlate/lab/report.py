"""``correlate evaluate --html FILE``: the run as a picture, faults and incidents on one time axis.

One self-contained HTML file (inline SVG and CSS, no script, nothing fetched), to open in any browser or attach
to a ticket. Each fault the simulation injected is a bar from its start to its end, with the incidents that hit it
on the lanes just below (from opening to their last event); a decoy is a grey bar; the incidents that hit no fault
come last, in red. The scores ``correlate evaluate`` prints are above the picture.

Pure: a function of the report and the events, so that the same run gives the same file.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from correlate.contracts import format_time, parse_timestamp
from correlate.events import Event, IncidentEvent
from correlate.lab.evaluate import Fault, Report
from correlate.scope import Scope

__all__ = ["Lane", "lanes", "render_html"]

_WIDTH: Final = 1100
_LABEL: Final = 300  # the left column, for the lanes' names
_LANE: Final = 22
_TOP: Final = 30


@dataclass(frozen=True, slots=True)
class Lane:
    """One row of the picture: a fault (``fault``, ``decoy``) or an incident (``hit``, ``false``)."""

    kind: str
    name: str
    detail: str
    start: float
    end: float
    ongoing: bool = False  # an incident still open at the end of the events


def _scope_text(scope: Scope | dict[str, str]) -> str:
    pairs = scope.items() if isinstance(scope, dict) else scope
    return ", ".join(f"{name}={value}" for name, value in pairs) or "(everything)"


def _incident_spans(events: Iterable[Event]) -> dict[str, Lane]:
    spans: dict[str, Lane] = {}
    for event in events:
        if not isinstance(event, IncidentEvent):
            continue
        at = parse_timestamp(event.at)
        known = spans.get(event.incident_id)
        start = parse_timestamp(event.opened_at) if known is None else known.start
        label = event.number or event.incident_id
        severity = f", {event.severity}" if event.severity is not None else ""
        detail = f"{event.incident_id}{severity}: {event.kind.value} on {_scope_text(event.scope)}"
        spans[event.incident_id] = Lane("hit", label, detail, start, max(at, known.end if known else at),
                                        ongoing=not event.resolved)  # fmt: skip
    return spans


def lanes(report: Report, events: Sequence[Event], decoys: Sequence[Fault] = ()) -> list[Lane]:
    """The picture's rows, top to bottom: each fault (and decoy) in time order with the incidents that hit it,
    then the false incidents."""
    spans = _incident_spans(events)
    rows: list[Lane] = []
    shown: set[str] = set()
    entries: list[tuple[Fault, Any]] = [(outcome.fault, outcome) for outcome in report.outcomes]
    entries += [(decoy, None) for decoy in decoys]
    for fault, outcome in sorted(entries, key=lambda entry: (entry[0].start, entry[0].fault_id)):
        if outcome is None:
            rows.append(Lane("decoy", fault.fault_id, f"decoy on {_scope_text(fault.scope)}", fault.start, fault.end))
            continue
        found = f", found after {outcome.minutes_to_detect:.0f} min" if outcome.minutes_to_detect is not None else ""
        status = "exact" if outcome.exact else "found" if outcome.detected else "missed"
        rows.append(
            Lane(
                "decoy" if fault.decoy else "fault",
                fault.fault_id,
                f"{fault.kind} on {_scope_text(fault.scope)}: {status}{found}",
                fault.start,
                fault.end,
            )
        )
        for incident_id in outcome.incidents:
            if incident_id in spans:
                rows.append(spans[incident_id])
                shown.add(incident_id)
    for incident_id in report.false_incidents:
        span = spans.get(incident_id)
        if span is not None and incident_id not in shown:
            rows.append(Lane("false", span.name, span.detail, span.start, span.end, span.ongoing))
    return rows


def _svg(rows: Sequence[Lane]) -> str:
    start = min((row.start for row in rows), default=0.0)
    end = max((row.end for row in rows), default=start + 3600.0)
    if end - start < 3600.0:
        end = start + 3600.0
    plot = _WIDTH - _LABEL - 20

    def x(ts: float) -> float:
        return _LABEL + (ts - start) / (end - start) * plot

    height = _TOP + _LANE * len(rows) + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="faults and incidents on one time axis">'
    ]
    days = int((end - start) // 86_400) + 1
    step = 86_400.0 if days <= 14 else 7 * 86_400.0
    tick = start - start % 86_400.0
    while tick <= end:
        if tick >= start:
            out.append(f'<line class="grid" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{_TOP - 8}" y2="{height - 24}"/>')
            anchor = ' text-anchor="end"' if x(tick) > _WIDTH - 50 else ""
            out.append(
                f'<text class="tick" x="{x(tick):.1f}" y="{height - 10}"{anchor}>{format_time(tick)[:10]}</text>'
            )
        tick += step
    for index, row in enumerate(rows):
        y = _TOP + index * _LANE
        left, right = x(row.start), max(x(row.end), x(row.start) + 2.0)
        title = html.escape(f"{row.name}: {row.detail} ({format_time(row.start)} to {format_time(row.end)}"
                            f"{', still open' if row.ongoing else ''})")  # fmt: skip
        indent = 18 if row.kind in ("hit", "false") else 0
        room = 46 - indent // 6 - len(row.name)
        detail = row.detail if len(row.detail) <= room else row.detail[: room - 1] + "…"
        out.append(
            f'<text class="name {row.kind}" x="{6 + indent}" y="{y + 14}">{html.escape(row.name)} '
            f'<tspan class="detail">{html.escape(detail)}</tspan></text>'
        )
        out.append(
            f'<rect class="{row.kind}" x="{left:.1f}" y="{y + 3}" width="{right - left:.1f}" height="{_LANE - 6}" '
            f'data-start="{format_time(row.start)}" data-end="{format_time(row.end)}"><title>{title}</title></rect>'
        )
    out.append("</svg>")
    return "\n".join(out)


_STYLE: Final = """
body { font-family: system-ui, sans-serif; color: #1b1f24; margin: 24px; }
pre { background: #f5f6f8; padding: 12px; border-radius: 6px; font-size: 13px; }
svg text { font-size: 11px; fill: #3d4654; }
svg .tick { text-anchor: middle; }
svg .grid { stroke: #eef0f3; }
svg rect.fault { fill: #d9822b; } svg rect.decoy { fill: #b0b7c3; }
svg rect.hit { fill: #2e7d32; } svg rect.false { fill: #b42318; }
svg .name.fault, svg .name.decoy { font-weight: 600; }
svg .detail { fill: #5f6b7a; }
.key span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 14px; vertical-align: middle; }
.key .fault { background: #d9822b; } .key .decoy { background: #b0b7c3; }
.key .hit { background: #2e7d32; } .key .false { background: #b42318; }
"""


def render_html(
    report: Report, events: Sequence[Event], decoys: Sequence[Fault] = (), title: str = "correlate evaluate"
) -> str:
    """The whole report page."""
    rows = lanes(report, events, decoys)
    key = (
        '<p class="key"><span class="fault"></span>fault (start to end) <span class="decoy"></span>decoy '
        '<span class="hit"></span>incident that hit it (opened to its last event) '
        '<span class="false"></span>incident that hit no fault</p>'
    )
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<pre>{html.escape(report.render())}</pre>\n"
        f"<h2>Faults and incidents on one time axis</h2>\n{key}\n{_svg(rows)}\n</body>\n</html>\n"
    )
