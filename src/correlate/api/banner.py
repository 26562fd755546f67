"""The known-incident banner: one sentence an agent can read aloud while the customer is on the line.

An agent who knows that 227 other customers have the same fault stops troubleshooting a device that is not
broken, tells the customer the truth, and puts them on the list to be told when it is fixed. The wording lives
here, as a pure function of plain facts, so that it can be read and tested as a table of cases and never
depends on where the facts came from (the store, a test, a replay).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from correlate.contracts import parse_timestamp
from correlate.events import IncidentHeadline

__all__ = ["BannerFacts", "banner_text", "describe_scope", "describe_symptom", "facts_from_event"]

_CODE = re.compile(r"[A-Za-z]{0,3}-?\d+")
# Dimensions that name the customer's device: when the fault is there, checking the device wastes the call.
DEVICE_DIMENSIONS = ("device_model", "device_brand")


@dataclass(frozen=True)
class BannerFacts:
    """What the banner says, as plain values.

    ``notified`` are the vendors already told (a webhook delivered or their topic written); ``involved`` are
    all vendors at fault or affected. ``on_follow_up`` is whether the customer on the line is already on the
    incident's follow-up list (None when the agent did not say which customer).
    """

    opened_at: float
    scope: Mapping[str, str]
    customers: int
    category: str | None = None
    involved: Sequence[str] = ()
    notified: Sequence[str] = ()
    on_follow_up: bool | None = None
    resolved_at: float | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def facts_from_event(
    event: IncidentHeadline, notified: Sequence[str] = (), on_follow_up: bool | None = None
) -> BannerFacts:
    """The banner's facts from the latest incident event (its headline: :meth:`IncidentEvent.headline`)."""
    categories = event.categories
    # The most frequent code; not the first key, because stored JSON may have its keys sorted.
    category = min(categories, key=lambda code: (-categories[code], code)) if categories else None
    involved = event.vendors.involved()
    return BannerFacts(
        opened_at=parse_timestamp(event.opened_at),
        scope=dict(event.scope),
        customers=event.customers,
        category=category,
        involved=involved,
        notified=sorted(set(notified) & set(involved)),
        on_follow_up=on_follow_up,
        resolved_at=parse_timestamp(event.at) if event.resolved else None,
    )


def banner_text(facts: BannerFacts, now: float, zone: tzinfo = UTC) -> str:
    """The sentence, e.g. "Known incident since 16:20: error 3021 on Sonique devices with StreamPlus — 227
    customers, both vendors notified. Don't troubleshoot the device; add the customer to the follow-up list."

    ``now`` only decides whether the start time needs its day (older than a day: "since Mon 16:20"; older than
    six days: "since 2 Mar 16:20"); times are shown in ``zone``, the agents' local time.
    """
    since = _clock(facts.opened_at, now, zone)
    what = f"{describe_symptom(facts.category)} {describe_scope(facts.scope)}"
    people = f"{facts.customers} customer{'s' if facts.customers != 1 else ''}"
    vendors = _vendors(facts.involved, facts.notified)
    head = f"{people}, {vendors}" if vendors else people
    if facts.resolved_at is not None:
        return f"Incident resolved at {_clock(facts.resolved_at, now, zone)} (since {since}): {what} — {head}."
    advice = "Don't troubleshoot the device" if _is_device_fault(facts.scope) else "It is not the customer's setup"
    if facts.on_follow_up:
        follow = "the customer is already on the follow-up list"
    else:
        follow = "add the customer to the follow-up list"
    return f"Known incident since {since}: {what} — {head}. {advice}; {follow}."


def describe_symptom(category: str | None) -> str:
    """``E3021`` -> "error E3021"; ``no-signal`` -> "no signal"; nothing known -> "a fault"."""
    if not category or not category.strip():
        return "a fault"
    category = category.strip()
    if _CODE.fullmatch(category):
        return f"error {category}"
    return re.sub(r"[-_]+", " ", category)


def describe_scope(scope: Mapping[str, str]) -> str:
    """Where the fault is, in words: "on Sonique devices with StreamPlus", "on StreamPlus in region North"."""
    rest = dict(scope)
    device = rest.pop("device_model", None)
    brand = rest.pop("device_brand", None)
    if device is None:
        device = brand  # a model implies its brand: "Sonique S7 devices", not "Sonique S7 Sonique devices"
    service = rest.pop("service", None)
    region = rest.pop("region", None)
    parts: list[str] = []
    if device is not None:
        parts.append(f"on {device} devices")
        if service is not None:
            parts.append(f"with {service}")
    elif service is not None:
        parts.append(f"on {service}")
    if region is not None:
        parts.append(f"in region {region}")
    parts.extend(f"with {name.replace('_', ' ')} {value}" for name, value in sorted(rest.items()))
    return " ".join(parts) if parts else "across all contacts"


def _is_device_fault(scope: Mapping[str, str]) -> bool:
    return any(name in scope for name in DEVICE_DIMENSIONS)


def _vendors(involved: Sequence[str], notified: Sequence[str]) -> str:
    total, told = len(involved), len(set(notified) & set(involved))
    if total == 0:
        return ""
    if told == total:
        if total == 1:
            return f"{involved[0]} notified"
        return "both vendors notified" if total == 2 else f"all {total} vendors notified"
    if told == 0:
        return "vendor not yet notified" if total == 1 else "vendors not yet notified"
    return f"{told} of {total} vendors notified"


def _clock(ts: float, now: float, zone: tzinfo) -> str:
    moment = datetime.fromtimestamp(ts, tz=zone)
    if abs(now - ts) >= 6 * 86_400:
        return f"{moment.day} {moment.strftime('%b %H:%M')}"  # a weekday would be ambiguous
    if now - ts >= 86_400 or now < ts - 60:
        return moment.strftime("%a %H:%M")
    return moment.strftime("%H:%M")
