"""One ``/metrics`` for a worker made of two processes: the validate stage's registry and the detect
process's exposition, merged sample by sample.

A worker runs its detect stage in a process of its own (one core for the Engine, one for validating). Both
hold the same metric contract (:class:`correlate.metrics.Metrics`), and each metric is written by one of them
— except rejects, which both make (contract breaches here, late contacts there) and which add up. So the
merge is a sum per (sample, labels): the detect process's leader gauge, latency histogram and cells appear
beside the validate process's intake counters, under one scrape target as the dashboards expect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from urllib.request import urlopen

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

__all__ = ["MergedCollector", "fetch", "merge"]

_SUFFIXES = ("", "_total", "_bucket", "_sum", "_count", "_created")


def merge(local: Iterable[Metric], remote_text: str) -> list[Metric]:
    """``local`` families with the samples of ``remote_text`` added in (sums; ``_created`` kept local)."""
    families = list(local)
    owner: dict[str, Metric] = {}
    index: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for family in families:
        for suffix in _SUFFIXES:
            owner[family.name + suffix] = family
        for position, sample in enumerate(family.samples):
            index[(sample.name, tuple(sorted(sample.labels.items())))] = position
    for remote in text_string_to_metric_families(remote_text):
        for sample in remote.samples:
            target = owner.get(sample.name)
            if target is None or sample.name.endswith("_created"):
                continue
            key = (sample.name, tuple(sorted(sample.labels.items())))
            found = index.get(key)
            if found is None:
                index[key] = len(target.samples)
                target.samples.append(Sample(sample.name, dict(sample.labels), sample.value))
            else:
                mine = target.samples[found]
                target.samples[found] = mine._replace(value=mine.value + sample.value)
    return families


def fetch(url: str, timeout: float = 2.0) -> str:
    """The exposition text at ``url``; empty if it does not answer (the detect process is restarting)."""
    try:
        with urlopen(url, timeout=timeout) as response:
            return str(response.read().decode("utf-8"))
    except OSError:
        return ""


class MergedCollector(Collector):
    """Collects ``registry`` merged with the exposition served at ``url()`` (None: nothing to merge)."""

    def __init__(self, registry: CollectorRegistry, url: Callable[[], str | None]) -> None:
        self.registry = registry
        self.url = url

    def collect(self) -> Iterator[Metric]:
        where = self.url()
        text = fetch(where) if where else ""
        yield from merge(self.registry.collect(), text)
