"""Settings of the Kafka edge (the ``[stack]`` table): each declared once, with its meaning and its variable.

They sit apart from the detection :class:`~correlate.config.Settings` because they say *where* the pipeline
runs, not *what* it finds: the same stream gives the same incidents whatever the broker or partition count.
Each may come from the ``[stack]`` table of the settings file, or from ``CORRELATE_<NAME>`` in the
environment, which wins (so a container can point a packaged config at its own broker).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from correlate.config import ConfigError

__all__ = ["RUNNERS", "StackSettings", "load_stack_settings"]

RUNNERS = ("aiokafka", "faust")


def _setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class StackSettings:
    """Where the pipeline runs and how it is cut into partitions. Times are wall-clock seconds."""

    broker: str | None = _setting(None, "Kafka bootstrap servers (host:port,...); none: `up` starts Tansu.")
    store: str | None = _setting(None, "Redis URL for the leader lease; none: `up` starts a Redis.")
    home: str = _setting("~/.correlate", "Where `up` keeps its state file, logs and the embedded Redis data.")
    input_topics: tuple[str, ...] = _setting(("contacts",), "Topics contacts are read from (JSON, one a record).")
    input_partitions: int = _setting(4, "Partitions of the input and accepted topics: the most validate workers.")
    topic_prefix: str = _setting("", "Prefix for every topic, the consumer group and the lease (one cluster, many).")
    lease_ttl: float = _setting(10.0, "Life of the detect leader's lease; a dead leader is replaced after this.")
    merge_idle: float = _setting(
        0.5, "Slack of the event-time merge: clock difference allowed between validate workers' hosts (seconds)."
    )
    validate_runner: str = _setting("aiokafka", "Runner of the validate stage: aiokafka (default) or faust.")
    memory_budget: float = _setting(
        1024.0, "Resident memory (MB) a worker process may use before `status` and an alert call it unhealthy."
    )
    stall_after: float = _setting(
        60.0, "Seconds a detect leader may take nothing in while records wait before it counts as stuck."
    )
    loop_stale_after: float = _setting(
        30.0, "Seconds a worker's event loop may not come round before its /livez (and /readyz) say 503."
    )
    checkpoint_every: float = _setting(
        300.0,
        "Seconds between two checkpoints of the detect leader's state in the store (and one once a rebuild has caught "
        "up, one at a clean stop); a new "
        "leader restores the latest and re-reads only the records after it. 0: none, every takeover replays "
        "contacts.accepted from its start.",
    )
    api_port: int = _setting(8480, "Port `up` runs the API on when it is free (else any free port, and says so).")

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser()

    def topic(self, name: str) -> str:
        """A topic name as it is on the cluster (with the prefix)."""
        return self.topic_prefix + name

    @property
    def group(self) -> str:
        """The consumer group of the validate stage."""
        return self.topic_prefix + "correlate"

    @property
    def lease_key(self) -> str:
        return self.topic_prefix + "correlate:detect-leader"

    @property
    def lag_key(self) -> str:
        """Where validate workers report how far behind each input partition they are."""
        return self.topic_prefix + "correlate:validate-lag"

    @property
    def progress_key(self) -> str:
        return self.topic_prefix + "correlate:detect-progress"

    @property
    def checkpoint_key(self) -> str:
        """Where the detect leader stores its latest checkpoint (one value: pickled state, see
        :mod:`correlate.streams.checkpoint`)."""
        return self.topic_prefix + "correlate:detect-checkpoint"

    @property
    def health_prefix(self) -> str:
        """Where each stage of each worker writes its health report (one expiring key per stage)."""
        return self.topic_prefix + "correlate:health:"

    @property
    def memory_budget_bytes(self) -> int:
        return int(self.memory_budget * 1_048_576)


def load_stack_settings(
    section: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None, **overrides: Any
) -> StackSettings:
    """Defaults, then the ``[stack]`` table, then ``CORRELATE_<NAME>``, then explicit overrides (flags) not None."""
    environ = os.environ if environ is None else environ
    known = {f.name for f in fields(StackSettings)}
    values: dict[str, Any] = dict(section or {})
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"[stack]: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for name in known:
        variable = f"CORRELATE_{name.upper()}"
        if environ.get(variable):
            values[name] = environ[variable]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return replace(StackSettings(), **{name: _coerce(name, value) for name, value in values.items()})


def _coerce(name: str, value: Any) -> Any:
    if name == "input_topics":
        topics = tuple(t.strip() for t in value.split(",")) if isinstance(value, str) else tuple(map(str, value))
        if not topics or not all(topics):
            raise ConfigError("input_topics: must name at least one topic")
        return topics
    if name in ("input_partitions", "api_port"):
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: must be a whole number, not {value!r}") from None
        if number < 1 or (name == "api_port" and number > 65_535):
            raise ConfigError(f"{name}: must be >= 1" + (" and <= 65535" if name == "api_port" else ""))
        return number
    if name in ("lease_ttl", "merge_idle", "memory_budget", "stall_after", "loop_stale_after", "checkpoint_every"):
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: must be a number of seconds, not {value!r}") from None
        if seconds < 0 or (seconds == 0 and name != "checkpoint_every"):
            raise ConfigError(f"{name}: must be > 0" + (" (or 0: none)" if name == "checkpoint_every" else ""))
        return seconds
    if name == "validate_runner" and value not in RUNNERS:
        raise ConfigError(f"validate_runner: must be one of {', '.join(RUNNERS)}, not {value!r}")
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{name}: must be text, not {value!r}")
    return value
