"""Settings: each declared once, with its meaning, its default and its environment variable.

A settings file (TOML or JSON) may set any of them by name, and may carry the vendor registry under
``vendors`` and ``owned_dimensions``. ``CORRELATE_<NAME>`` in the environment overrides both. Unknown names are
an error on load, not a silent no-op.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from correlate.errors import ConfigError as ConfigError  # raised here; importable from here as before
from correlate.limits import Limits
from correlate.severity import SeverityRules
from correlate.vendors import VendorRegistry

__all__ = ["Config", "Settings", "load_config"]

_REGISTRY_KEYS = frozenset({"vendors", "owned_dimensions", "name_unlisted"})
# Tables for the edges, parsed by the module that owns them: ``[stack]`` (broker, store, topics:
# correlate.streams) and ``[delivery.<vendor>]`` (vendor topics and webhooks: correlate.notify).
_SECTION_KEYS = frozenset({"stack", "delivery"})


def _setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings(Limits):
    """Detection settings, and the bounds on input they inherit (:mod:`correlate.limits`). Times are in seconds of
    event time."""

    step: float = _setting(60.0, "How often every cell is scored; a finding can come at most this late.")
    windows: tuple[float, ...] = _setting((900.0, 3600.0), "Sliding windows in which reporters are counted.")
    lateness: float = _setting(300.0, "How far out of event-time order a contact may arrive and still count.")
    warmup: float = _setting(
        86_400.0,
        (
            "History needed before a cell is tested. A single value newer than that is tested once its longest window "
            "is full, against the centre's rhythm times its share so far."
        ),
    )
    false_alarms_per_day: float = _setting(0.05, "Expected false rate findings per day over all cells tested.")
    min_reporters: int = _setting(3, "Distinct reporters a rate finding needs at least.")
    elevated_p: float = _setting(1e-3, "p-value below which a cell is still elevated (attribution, resolving).")
    attribution_ratio: float = _setting(1.5, "How much faster than its siblings a cell must run to own a fault.")
    max_depth: int = _setting(2, "Largest number of dimension values in one cell (2: single values and pairs).")
    dimensions: tuple[str, ...] | None = _setting(None, "Dimensions in the lattice; none set: all seen.")
    level_half_life: float = _setting(86_400.0, "Half-life of a cell's learned level (follows slow drift).")
    hold_reported: bool = _setting(
        False,
        (
            "A scope the rate detector reports does not teach its cells' baseline while it stays unusual (at most a "
            "quarter of the level's half-life), and what its windows taught in the two hours before is taken back."
        ),
    )
    quiet_period: float = _setting(3600.0, "Time back at baseline before an incident is resolved.")
    update_interval: float = _setting(900.0, "Least time between two events of one incident.")
    dedup_horizon: float = _setting(86_400.0, "How long a contact_id is remembered to drop repeats.")
    max_clock_jump: float = _setting(7 * 86_400.0, "A record further ahead of the stream's clock is rejected.")
    symptoms: bool = _setting(True, "Run the rare-symptom detector on free texts.")
    symptom_window: float = _setting(3600.0, "Window in which near-duplicate texts form a cluster.")
    symptom_min_customers: int = _setting(3, "Distinct customers a rare-symptom cluster needs.")
    symptom_meaning: bool = _setting(
        False, "Also group texts by meaning, rare per company, model or region (needs the semantic extra)."
    )
    silence: bool = _setting(True, "Run the silence detector on heartbeats (telemetry records).")
    silence_window: float = _setting(
        600.0, "Shortest window in which heartbeats are counted; a second, four times as long, finds partial silences."
    )
    silence_false_alarms_per_day: float = _setting(
        0.05, "Expected false silence findings per day over all cells tested."
    )
    silence_min_deficit: float = _setting(
        0.3, "Least share of a population's expected heartbeats missing for a finding."
    )
    silence_min_devices: int = _setting(
        3, "Devices a silence finding needs gone quiet at least (fewer: single devices)."
    )
    device_quiet_factor: float = _setting(
        3.0, "A monitored device is silent after at least this many of its usual heartbeat gaps."
    )
    device_min_gaps: int = _setting(5, "Heartbeat gaps a device must have shown before its silence is reported.")
    corroboration_p: float = _setting(
        1e-3, "Chance below which the calls of a silence's own customers corroborate it (on an ordinary day)."
    )
    corroboration_callers: int = _setting(2, "Customers of a silence's quiet devices who must call to corroborate it.")
    dismiss_hold: float = _setting(
        86_400.0, "How long a dismissed incident's scope stays suppressed (unless its customers double)."
    )
    severity_warning_customers: int = _setting(10, "Customers affected from which an incident is a warning.")
    severity_error_customers: int = _setting(50, "Customers affected from which an incident is an error (pages).")
    severity_critical_customers: int = _setting(500, "Customers affected from which an incident is critical.")
    severity_low_confidence: float = _setting(0.99, "Confidence below which an incident's severity drops a level.")

    def severity_rules(self) -> SeverityRules:
        """The severity thresholds (correlate.severity) these settings set."""
        return SeverityRules(
            self.severity_warning_customers,
            self.severity_error_customers,
            self.severity_critical_customers,
            self.severity_low_confidence,
        )


@dataclass(frozen=True)
class Config:
    settings: Settings
    vendors: VendorRegistry
    sections: Mapping[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> Mapping[str, Any]:
        """A table for one of the edges (``stack``, ``delivery``), empty if the file has none."""
        value = self.sections.get(name, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}: must be a table, not {value!r}")
        return value


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Settings from defaults, then the file, then ``CORRELATE_*`` variables."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{path}: cannot be read ({error.strerror or error})") from None
        except UnicodeDecodeError as error:
            raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
        try:
            raw = json.loads(text) if str(path).endswith(".json") else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"{path}: {error}") from None
    try:
        registry = VendorRegistry.from_config({k: v for k, v in raw.items() if k in _REGISTRY_KEYS})
    except ValueError as error:
        raise ConfigError(str(error)) from None
    sections = {k: v for k, v in raw.items() if k in _SECTION_KEYS}
    values = {k: v for k, v in raw.items() if k not in _REGISTRY_KEYS | _SECTION_KEYS}
    environ = os.environ if environ is None else environ
    known = {f.name: f for f in fields(Settings)}
    for name in known:
        variable = f"CORRELATE_{name.upper()}"
        if variable in environ:
            values[name] = _from_text(environ[variable], name)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return Config(replace(Settings(), **{k: _coerce(k, v) for k, v in values.items()}), registry, sections)


def _from_text(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if name == "dimensions":
            return [part.strip() for part in text.split(",") if part.strip()]
        raise ConfigError(f"CORRELATE_{name.upper()}: {text!r} is not a number, list or boolean") from None


def _coerce(name: str, value: Any) -> Any:
    default = getattr(Settings(), name)
    if name == "dimensions":
        return None if value is None else tuple(str(v) for v in value)
    if name == "windows":
        windows = tuple(float(v) for v in value)
        if not windows or min(windows) <= 0:
            raise ConfigError("windows: must be a non-empty list of positive seconds")
        return windows
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: must be true or false, not {value!r}")
        return value
    if isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{name}: must be a non-negative number, not {value!r}")
        return type(default)(value)
    return value
