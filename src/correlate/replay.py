"""``correlate replay``: run the detection core over a JSONL file of contacts, with no servers.

Reads contacts line by line (in event-time order, tolerating disorder up to the configured lateness), writes
incident events as JSONL, and writes every record it could not accept to the rejects output with the reason.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any

import orjson

from correlate.contracts import Rejection
from correlate.engine import Engine


@dataclass(frozen=True)
class ReplaySummary:
    lines: int
    accepted: int
    duplicates: int
    rejected: int
    events: dict[str, int]

    def line(self) -> str:
        events = ", ".join(f"{n} {name}" for name, n in sorted(self.events.items())) or "no incidents"
        return (
            f"replay: {self.lines} lines, {self.accepted} accepted, {self.duplicates} repeated ids, "
            f"{self.rejected} rejected; {events}"
        )


def decode(line: bytes, number: int) -> tuple[Any, Rejection | None]:
    """One JSONL line to a value, or a rejection that quotes the line."""
    try:
        return orjson.loads(line), None
    except orjson.JSONDecodeError as error:
        text = line.decode("utf-8", errors="replace").rstrip("\n")
        return None, Rejection("", f"line {number} is not valid JSON ({error})", text)


def replay(
    engine: Engine, lines: Iterable[bytes], events_out: IO[bytes], rejects_out: IO[bytes] | None
) -> ReplaySummary:
    """Drive the engine over ``lines``; events and rejects are written as they are released."""
    write = events_out.write
    count = 0
    for count, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record, rejection = decode(line, count)
        if rejection is None:
            outcome = engine.process(record)
            rejection = outcome.rejection
            for event in outcome.events:
                write(orjson.dumps(event) + b"\n")
        else:
            engine.counts.rejected["json"] += 1
        if rejection is not None and rejects_out is not None:
            rejects_out.write(orjson.dumps({"line": count, **rejection.to_json()}) + b"\n")
    for event in engine.close():
        write(orjson.dumps(event) + b"\n")
    counts = engine.counts
    return ReplaySummary(count, counts.accepted, counts.duplicates, sum(counts.rejected.values()), dict(counts.events))


def run_replay(engine: Engine, source: str, output: str, rejects: str | None) -> ReplaySummary:
    """Open the named files (``-`` is stdin/stdout) and replay."""
    with ExitStack() as stack:
        lines: Iterator[bytes] = iter(sys.stdin.buffer) if source == "-" else stack.enter_context(open(source, "rb"))
        out = sys.stdout.buffer if output == "-" else stack.enter_context(open(output, "wb"))
        rejects_out = None
        if rejects == "-":
            rejects_out = sys.stderr.buffer
        elif rejects is not None:
            rejects_out = stack.enter_context(open(rejects, "wb"))
        summary = replay(engine, lines, out, rejects_out)
        out.flush()
        return summary
