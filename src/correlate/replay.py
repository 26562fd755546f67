"""``correlate replay``: run the detection core over a JSONL file of contacts, with no servers.

Reads contacts line by line (in event-time order, tolerating disorder up to the configured lateness), writes
incident events as JSONL, and writes every record it could not accept to the rejects output with the reason.
Heartbeats and vendor status records may sit in the same input (their ``type`` tells them apart), or come from
other files merged by event time (``--merge``): each file in event-time order, the merge keeps it so.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import IO, Any

import orjson

from correlate.contracts import ContactDecoder, Rejection, parse_timestamp
from correlate.engine import Engine, rare_collections
from correlate.errors import ContractError
from correlate.intake import oversized

__all__ = ["ReplaySummary", "decode", "event_time", "merge_by_event_time", "replay", "run_replay"]


@dataclass(frozen=True)
class ReplaySummary:
    lines: int
    accepted: int
    duplicates: int
    rejected: int
    events: dict[str, int]

    telemetry: int = 0
    statuses: int = 0
    left_out: dict[str, int] = field(default_factory=dict)
    held: int = 0  # silence findings held: inside a scope whose devices announced standby

    def line(self) -> str:
        events = ", ".join(f"{n} {name}" for name, n in sorted(self.events.items())) or "no incidents"
        others = (
            f", {self.telemetry} telemetry, {self.statuses} vendor status" if self.telemetry or self.statuses else ""
        )
        over = ""
        if self.left_out:
            names = ", ".join(sorted(self.left_out)[:5]) + (", ..." if len(self.left_out) > 5 else "")
            over = (
                f"; {sum(self.left_out.values())} dimension values left out of profiles, over budget "
                f"({len(self.left_out)} names: {names})"
            )
        held = f"; {self.held} silence findings held under an announced maintenance" if self.held else ""
        return (
            f"replay: {self.lines} lines, {self.accepted} accepted{others}, {self.duplicates} repeated ids, "
            f"{self.rejected} rejected; {events}{over}{held}"
        )


def decode(line: bytes, number: int) -> tuple[Any, Rejection | None]:
    """One JSONL line to a value, or a rejection that quotes the line."""
    try:
        return orjson.loads(line), None
    except orjson.JSONDecodeError as error:
        text = line.decode("utf-8", errors="replace").rstrip("\n")
        return None, Rejection("", f"line {number} is not valid JSON ({error})", text)


@rare_collections()
def replay(
    engine: Engine,
    lines: Iterable[bytes],
    events_out: IO[bytes],
    rejects_out: IO[bytes] | None,
    *,
    first_line: int = 1,
    before_close: Callable[[int], None] | None = None,
    close: bool = True,
) -> ReplaySummary:
    """Drive the engine over ``lines``; events and rejects are written as they are released.

    A stream replayed in stretches (``--state``, :mod:`correlate.snapshot`): ``first_line`` numbers the first
    line (rejects name lines as in the whole stream), ``before_close(last line)`` runs once the input is read and
    before the steps still open are scored (where a state that continues the stream is saved), and
    ``close=False`` leaves them open for the next stretch."""
    write = events_out.write
    limits = engine.settings
    max_line, excerpt = limits.max_line_bytes, limits.max_excerpt_chars
    contact_of = ContactDecoder(limits).decode
    count = first_line - 1
    for count, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        if len(line) > max_line:
            rejection = oversized(line, limits)
            engine.counts.rejected["size"] += 1
        elif (contact := contact_of(line)) is not None:  # the common case, decoded and checked in one pass
            outcome = engine.accept(contact)
            rejection = outcome.rejection
            if rejection is not None:  # late, or too far ahead: the reject quotes the record as it came
                rejection = replace(rejection, record=orjson.loads(line))
            for event in outcome.events:
                write(orjson.dumps(event.to_json()) + b"\n")
        else:
            try:  # decode(), inline for the line that is valid JSON: this runs for every line
                record, rejection = orjson.loads(line), None
            except orjson.JSONDecodeError:
                record, rejection = decode(line, count)
            if rejection is None:
                outcome = engine.process(record)
                rejection = outcome.rejection
                for event in outcome.events:
                    write(orjson.dumps(event.to_json()) + b"\n")
            else:
                engine.counts.rejected["json"] += 1
        if rejection is not None and rejects_out is not None:
            rejects_out.write(orjson.dumps({"line": count, **rejection.to_json(excerpt)}) + b"\n")
    if before_close is not None:
        before_close(count)
    for event in engine.close() if close else ():
        write(orjson.dumps(event.to_json()) + b"\n")
    # Held ahead of the stream, which never got there: no line to name (a stream that goes on keeps them).
    for rejection in engine.unreached() if close else ():
        if rejects_out is not None:
            rejects_out.write(orjson.dumps({"line": None, **rejection.to_json(excerpt)}) + b"\n")
    counts = engine.counts
    return ReplaySummary(
        count,
        counts.accepted,
        counts.duplicates,
        sum(counts.rejected.values()),
        dict(counts.events),
        counts.telemetry,
        counts.statuses,
        dict(counts.left_out),
        counts.held,
    )


def event_time(line: bytes) -> float:
    """A line's event time for merging; a line without a readable one sorts first (it is rejected anyway)."""
    try:
        record = orjson.loads(line)
        return parse_timestamp(record["ts"]) if type(record) is dict and "ts" in record else float("-inf")
    except (orjson.JSONDecodeError, ContractError):  # a broken line: replay rejects it with the reason
        return float("-inf")


def merge_by_event_time(inputs: Sequence[Iterable[bytes]]) -> Iterator[bytes]:
    """Lines of several inputs, each in event-time order, as one input in event-time order (ties: input order)."""
    if len(inputs) == 1:
        return iter(inputs[0])
    return heapq.merge(*inputs, key=event_time)


def run_replay(
    engine: Engine,
    source: str,
    output: str,
    rejects: str | None,
    merge: Sequence[str] = (),
    progress: Callable[[Iterable[bytes]], Iterable[bytes]] | None = None,
    **stretch: Any,
) -> ReplaySummary:
    """Open the named files (``-`` is stdin/stdout) and replay; ``merge``: more inputs, merged by event time
    (rejects then name lines by their number in the merged stream). ``progress`` wraps the input lines, to
    count them as they are read (a progress bar); ``stretch``: :func:`replay`'s options for one stretch of a
    longer stream."""
    with ExitStack() as stack:
        first: Iterable[bytes] = sys.stdin.buffer if source == "-" else stack.enter_context(open(source, "rb"))
        more = [stack.enter_context(open(path, "rb")) for path in merge]
        lines: Iterable[bytes] = merge_by_event_time([first, *more])
        if progress is not None:
            lines = progress(lines)
        out = sys.stdout.buffer if output == "-" else stack.enter_context(open(output, "wb"))
        rejects_out = None
        if rejects == "-":
            rejects_out = sys.stderr.buffer
        elif rejects is not None:
            rejects_out = stack.enter_context(open(rejects, "wb"))
        summary = replay(engine, lines, out, rejects_out, **stretch)
        out.flush()
        return summary
