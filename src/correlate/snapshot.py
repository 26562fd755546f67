"""An Engine's whole state as bytes, and back: so a run can stop and another continue where it stopped.

    snapshot = MAGIC  header (one JSON line)  payload (the Engine, pickled)

:func:`save` writes everything the engine holds (detectors, incident book, stitcher, the steps still waiting
for the watermark, the stream's clock, the remembered ids, people's actions, the stamper...) and :func:`restore`
gives back an engine that releases, for the rest of a stream, byte for byte the events an engine that never
stopped would have released. Both are pure: bytes in, bytes out, no file or network.

The header is JSON, readable without unpickling anything: the format, the code that wrote the state (the
package version and a digest of the core's source, and the Python version), a fingerprint of the detection
settings and vendor registry, the payload's length and SHA-256, and ``covers``: what the caller says the state
has taken in (``correlate replay``: lines read; the detect leader: the offsets of ``contacts.accepted``).
:func:`restore` refuses, with :class:`SnapshotRefused` and the reason, a snapshot of other code or other
settings, or one that is truncated or damaged: the caller then starts from scratch, never from a state its code
would misread.

Why pickle: the state is a graph of a few hundred thousand small objects of many classes that other modules
own and change; a hand-written format would have to follow every one of them. Pickle (protocol 5) writes the
graph as it is, at C speed; measured at 400,000 contacts a day (see ``benchmarks/takeover.py``) it saves and
restores in well under the time a replay of one hour of that stream takes. So the state must hold nothing the
standard pickler refuses: no lambdas or local functions (a ``defaultdict``'s factory is a module-level function,
a callback a bound method); ``tests/test_snapshot.py`` fails on the first one added.

**Trust:** unpickling runs whatever the bytes say. A snapshot is internal state that correlate's own leader (or
your own ``correlate replay --state``) wrote; keep it where only correlate writes (a Redis only the pipeline can
write to, a file only you can write). The digest in the header catches damage, not a forger.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

import correlate
from correlate.config import Settings
from correlate.engine import Engine
from correlate.errors import CorrelateError
from correlate.vendors import VendorRegistry

__all__ = [
    "FORMAT",
    "MAGIC",
    "REPLAY_LINES",
    "Header",
    "Snapshot",
    "SnapshotRefused",
    "code_version",
    "continue_replay",
    "fingerprint",
    "read_header",
    "restore",
    "save",
]

MAGIC: Final = b"correlate-snapshot\n"
FORMAT: Final = 1
REPLAY_LINES: Final = "replay_lines"  # what a replay's state covers: the lines read, merged inputs counted together
_CORE_SOURCES = ("*.py", "detectors/**/*.py")  # the modules whose objects make up an Engine's state


class SnapshotRefused(CorrelateError):
    """A snapshot that cannot be used here: damaged, or written by other code or for other settings."""


@dataclass(frozen=True)
class Header:
    """What a snapshot says about itself; read without unpickling the payload."""

    format: int
    code: str  # code_version() of the writer
    python: str  # major.minor: pickled functions are bytecode of that version
    settings: str  # fingerprint() of the writer's detection settings and vendors
    payload_bytes: int
    payload_sha256: str
    covers: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class Snapshot:
    """A restored engine and what its state covers."""

    engine: Engine
    covers: dict[str, Any]


def fingerprint(settings: Settings, vendors: VendorRegistry) -> str:
    """A digest of everything configured that changes what the engine finds: its settings and the vendors."""
    described = {"settings": asdict(settings), "vendors": asdict(vendors)}
    text = orjson.dumps(described, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=repr)
    return hashlib.sha256(text).hexdigest()[:32]


def code_version() -> str:
    """The package version and a digest of the core's source: a state pickled by other code may hold objects
    this code would misread later, so a snapshot names the code that wrote it, to the byte."""
    root = Path(correlate.__file__).parent
    digest = hashlib.sha256()
    for pattern in _CORE_SOURCES:
        for path in sorted(root.glob(pattern)):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return f"{correlate.__version__}+{digest.hexdigest()[:16]}"


def _python() -> str:
    return f"{sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}"


class _StatePickler(pickle.Pickler):
    """The standard pickler, keeping numpy views views: a detector may keep an array and views into it (rows of one
    block that decay together) and update the block in place; pickled as they are, each view would come back as
    a copy of its own, and the restored detector would read rows that no longer move."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is np.ndarray and isinstance(obj.base, np.ndarray):
            reduced = _view_reduction(obj)
            if reduced is not None:
                return reduced
        return NotImplemented  # everything else as pickle writes it


def _view_reduction(view: npt.NDArray[Any]) -> tuple[Any, ...] | None:
    """How to rebuild ``view`` over its owner's memory: the owner is pickled once (pickle's memo), and every
    view of it is rebuilt over that one copy."""
    owner = view.base
    while isinstance(owner, np.ndarray) and owner.base is not None:
        owner = owner.base
    if not isinstance(owner, np.ndarray) or not (owner.flags.c_contiguous or owner.flags.f_contiguous):
        return None  # memory numpy does not own (a buffer, a mapped file): saved as a copy, as pickle does
    offset = view.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    return _view, (owner, view.dtype, view.shape, view.strides, offset, view.flags.writeable)


def _view(
    owner: npt.NDArray[Any],
    dtype: np.dtype[Any],
    shape: tuple[int, ...],
    strides: tuple[int, ...],
    offset: int,
    writeable: bool,
) -> npt.NDArray[Any]:
    memory = owner if owner.flags.c_contiguous else owner.T
    view: npt.NDArray[Any] = np.ndarray(shape, dtype, buffer=memory, offset=offset, strides=strides)
    view.flags.writeable = writeable and owner.flags.writeable
    return view


def save(engine: Engine, covers: Mapping[str, Any] | None = None) -> bytes:
    """The engine's whole state, with ``covers`` (JSON: what the caller says the state has taken in).

    Saved as it is now: steps still waiting for the watermark stay waiting. To continue a stream, save before
    :meth:`Engine.close`, which scores those steps as if the stream had ended.
    """
    buffer = io.BytesIO()
    _StatePickler(buffer, protocol=5).dump(engine)
    payload = buffer.getbuffer()
    header = Header(
        FORMAT,
        code_version(),
        _python(),
        fingerprint(engine.settings, engine.book.vendors),
        len(payload),
        hashlib.sha256(payload).hexdigest(),
        dict(covers or {}),
    )
    return b"".join((MAGIC, header.to_json(), b"\n", payload))


def read_header(data: bytes | memoryview) -> tuple[Header, memoryview]:
    """The header and the payload it describes; :class:`SnapshotRefused` if this is not a whole snapshot."""
    view = memoryview(data)
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise SnapshotRefused("not a correlate snapshot (it does not start as one)")
    end = bytes(view[len(MAGIC) : len(MAGIC) + 65_536]).find(b"\n")
    if end < 0:
        raise SnapshotRefused("damaged snapshot: its header never ends")
    start = len(MAGIC) + end + 1
    try:
        raw = orjson.loads(bytes(view[len(MAGIC) : start - 1]))
        header = Header(**raw)
    except (orjson.JSONDecodeError, TypeError) as error:
        raise SnapshotRefused(f"damaged snapshot: its header cannot be read ({error})") from None
    if header.format != FORMAT:
        raise SnapshotRefused(f"snapshot format {header.format}; this correlate reads format {FORMAT}")
    payload = view[start:]
    if len(payload) != header.payload_bytes:
        raise SnapshotRefused(
            f"damaged snapshot: {len(payload)} bytes of state where its header says {header.payload_bytes}"
        )
    return header, payload


def restore(data: bytes | memoryview, settings: Settings, vendors: VendorRegistry) -> Snapshot:
    """The engine saved in ``data``, to run with ``settings`` and ``vendors``.

    Refused (:class:`SnapshotRefused`, saying why) when the snapshot is damaged, was written by other code or
    another Python, or for other settings or vendors: a state found under other rules would not be the state
    these rules find, so the caller must start from scratch.
    """
    header, payload = read_header(data)
    here = code_version()
    if header.code != here:
        raise SnapshotRefused(f"snapshot written by correlate {header.code}; this is {here}")
    if header.python != _python():
        raise SnapshotRefused(f"snapshot written by Python {header.python}; this is {_python()}")
    if header.settings != fingerprint(settings, vendors):
        raise SnapshotRefused(
            "snapshot made with other detection settings or vendors (fingerprint "
            f"{header.settings}, these are {fingerprint(settings, vendors)})"
        )
    if hashlib.sha256(payload).hexdigest() != header.payload_sha256:
        raise SnapshotRefused("damaged snapshot: its state does not match the digest in its header")
    try:
        engine = pickle.loads(payload)
    except Exception as error:  # crash guard: the digest matched, yet it does not load: refuse, never crash
        raise SnapshotRefused(f"snapshot state cannot be loaded ({type(error).__name__}: {error})") from None
    if not isinstance(engine, Engine):
        raise SnapshotRefused(f"snapshot holds a {type(engine).__name__}, not an Engine")
    return Snapshot(engine, header.covers)


def continue_replay(data: bytes | None, settings: Settings, vendors: VendorRegistry) -> tuple[Engine, int]:
    """``correlate replay --state``: the engine to go on with and the lines the saved stretches have read (a
    fresh engine and 0 without a snapshot). A refused snapshot is an error here, not a fresh start: the lines
    it covered are not in this run's input, so starting afresh would give other events without a word."""
    if data is None:
        return Engine(settings, vendors), 0
    restored = restore(data, settings, vendors)
    lines = restored.covers.get(REPLAY_LINES, 0)
    if not isinstance(lines, int) or lines < 0:
        raise SnapshotRefused(f"snapshot covers no replay's lines ({restored.covers!r})")
    return restored.engine, lines
