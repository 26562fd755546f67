"""How the servers log: level and format chosen once per process, inherited by the processes it starts.

``correlate up``, ``worker`` and ``api`` take ``--log-level`` and ``--log-format`` (``text`` or ``json``). The
choice goes into the environment (``CORRELATE_LOG_LEVEL``, ``CORRELATE_LOG_FORMAT``) before anything is
started, because ``up`` starts its worker and API as child processes and a worker starts its detect stage as
one: each of them reads the environment when it configures its logging, so one flag on ``up`` sets them all.
Either variable may also be set by hand (a container's environment, a systemd unit).

JSON lines are for log shippers (Loki, Elasticsearch, CloudWatch): one object a line with ``ts`` (RFC 3339,
UTC), ``level``, ``logger``, ``message``, ``pid`` and, for an error with a traceback, ``exception``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Final

from correlate.errors import LogChoiceError

__all__ = [
    "FORMATS",
    "FORMAT_VARIABLE",
    "LEVELS",
    "LEVEL_VARIABLE",
    "JsonLines",
    "LogChoice",
    "LogChoiceError",
    "add_arguments",
    "configure",
    "configure_inherited",
]

LEVEL_VARIABLE: Final = "CORRELATE_LOG_LEVEL"
FORMAT_VARIABLE: Final = "CORRELATE_LOG_FORMAT"
LEVELS: Final = ("debug", "info", "warning", "error", "critical")
FORMATS: Final = ("text", "json")
_TEXT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class LogChoice:
    """A level and a format; ``level`` None leaves the command's own default (the API says more than a worker)."""

    level: str | None = None
    format: str = "text"

    def __post_init__(self) -> None:
        if self.level is not None and self.level not in LEVELS:
            raise LogChoiceError(f"log level {self.level!r} is not one of {', '.join(LEVELS)}")
        if self.format not in FORMATS:
            raise LogChoiceError(f"log format {self.format!r} is not one of {', '.join(FORMATS)}")

    @classmethod
    def chosen(cls, level: str | None, format: str | None, environ: Mapping[str, str] = os.environ) -> LogChoice:
        """The flags where given, else the environment (what a parent process passed on), else defaults."""
        level = level or environ.get(LEVEL_VARIABLE) or None
        format = format or environ.get(FORMAT_VARIABLE) or "text"
        return cls(level.strip().lower() if level else None, format.strip().lower())

    def export(self, environ: MutableMapping[str, str]) -> None:
        """Put the choice where child processes find it."""
        if self.level is not None:
            environ[LEVEL_VARIABLE] = self.level
        environ[FORMAT_VARIABLE] = self.format


class JsonLines(logging.Formatter):
    """One JSON object a record, one record a line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(choice: LogChoice, default_level: str = "warning", stream: IO[str] | None = None) -> None:
    """Configure the root logger of this process (replacing any handler), and Python's warnings into it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines() if choice.format == "json" else logging.Formatter(_TEXT))
    level = (choice.level or default_level).upper()
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)


def configure_inherited(default_level: str = "warning") -> bool:
    """In a process started by a server without flags of its own: configure from the environment if a parent
    set it; else leave logging alone (the process keeps its own default). True when configured."""
    if not (os.environ.get(LEVEL_VARIABLE) or os.environ.get(FORMAT_VARIABLE)):
        return False
    configure(LogChoice.chosen(None, None), default_level)
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--log-level`` and ``--log-format`` on a server command."""
    group = parser.add_argument_group("logging (passed on to the processes this one starts)")
    group.add_argument(
        "--log-level",
        type=str.lower,
        choices=LEVELS,
        help=f"least severe record to log (default: the command's own; env {LEVEL_VARIABLE})",
    )
    group.add_argument(
        "--log-format",
        type=str.lower,
        choices=FORMATS,
        help=f"text, or json: one JSON object a line for log shippers (default text; env {FORMAT_VARIABLE})",
    )
