"""Progress bars for the long commands (``replay``, ``simulate``, ``evaluate``), for a person at a terminal.

A bar (tqdm: rate and time left) is drawn on stderr only when stderr is a terminal and ``--quiet`` was not
given: in a pipe, a file or a CI log a bar is noise (tqdm redraws with carriage returns), so there the command
stays silent until its one-line summary. A :class:`Bar` that is not shown costs nothing but a method call.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import IO, Any

__all__ = ["Bar", "Stages", "add_quiet", "count_lines", "counting", "wanted"]

_CHUNK = 1 << 20


def add_quiet(parser: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress bar and no closing summary (errors are still reported)."""
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar (drawn only at a terminal) and no summary line"
    )


def wanted(quiet: bool, stream: IO[str] | None = None) -> bool:
    """Whether to draw a bar: not with ``--quiet``, not when ``stream`` (stderr) is not a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return not quiet and stream.isatty()
    except ValueError:  # a closed stream
        return False


class Bar:
    """A tqdm bar on stderr, or nothing when ``shown`` is false. Use it as a context manager."""

    def __init__(
        self, shown: bool, *, desc: str, total: float | None, unit: str, unit_scale: bool = False, **options: Any
    ) -> None:
        self._bar: Any = None
        if shown:
            from tqdm import tqdm  # imported only when drawn: the commands start faster without it

            self._bar = tqdm(
                desc=desc,
                total=total,
                unit=unit,
                unit_scale=unit_scale,
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.25,
                **options,
            )

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def advance(self, amount: float) -> None:
        if self._bar is not None and amount:
            self._bar.update(amount)

    def describe(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_description_str(text, refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Bar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def counting(items: Iterable[bytes], bar: Bar, every: int = 1024, by_size: bool = False) -> Iterator[bytes]:
    """``items`` unchanged, advancing ``bar`` by one an item (or by its length) every ``every`` items; when the
    bar is not shown, ``items`` itself, so the hot loop pays nothing."""
    if not bar.shown:
        yield from items
        return
    pending = 0
    for number, item in enumerate(items, start=1):
        yield item
        pending += len(item) if by_size else 1
        if number % every == 0:
            bar.advance(pending)
            pending = 0
    bar.advance(pending)


def count_lines(paths: Sequence[str]) -> int:
    """Lines in these files, read in 1 MiB chunks (about 20 ms for 40 MB in the page cache)."""
    lines = 0
    for path in paths:
        with open(path, "rb") as source:
            while chunk := source.read(_CHUNK):
                lines += chunk.count(b"\n")
    return lines


class Stages:
    """A bar over a job done in stages of known relative cost: ``begin(name)`` moves the bar to where that
    stage starts, ``part(share)`` within it. ``weights`` in the order the stages run."""

    def __init__(self, bar: Bar, weights: Mapping[str, float], total: float, label: str) -> None:
        scale = total / sum(weights.values())
        self._bar, self._label, self._at = bar, label, 0.0
        self._starts: dict[str, tuple[float, float]] = {}
        start = 0.0
        for name, weight in weights.items():
            self._starts[name] = (start, weight * scale)
            start += weight * scale
        self._current = next(iter(weights))

    def begin(self, name: str) -> None:
        self._current = name
        self._move_to(self._starts[name][0])
        self._bar.describe(f"{self._label}: {name}")

    def part(self, share: float) -> None:
        """``share`` (0..1) of the current stage is done."""
        start, width = self._starts[self._current]
        self._move_to(start + min(1.0, share) * width)

    def _move_to(self, position: float) -> None:
        if position > self._at:
            self._bar.advance(position - self._at)
            self._at = position
