"""Near-duplicate free texts: normalisation, MinHash sketches and an LSH index of symptoms.

Customers describe one fault in many spellings: "cant post coment on live strem" and "Cannot post a comment
on the live stream!!" are the same complaint. This module turns each text into a small sketch and groups
sketches into *symptoms*: ids that stay stable over days, so that a detector can ask how often a symptom was
seen before.

Method, and why
---------------
* **Normalisation** (:func:`normalise`): casefold; drop apostrophes (``can't`` -> ``cant``); fold negations
  (``cannot``, ``can not``, ``does not`` -> ``cant``, ``doesnt``); replace runs of five or more digits
  (account, order and phone numbers) by ``#`` but keep short ones (error codes, channel numbers); turn other
  punctuation into spaces; drop a short list of filler words (articles, pronouns, greetings); collapse spaces.
* **Similarity** is the Jaccard similarity of the sets of character 3-grams of the normalised text. Character
  shingles forgive typos and small rewordings (a typo touches at most three shingles) without a dictionary or
  a language model, and Jaccard has MinHash, which turns a comparison into counting equal numbers. TF-IDF
  cosine was the alternative; it needs document frequencies that drift as traffic changes and a sparse dot
  product per candidate, while MinHash sketches are fixed-size arrays that compare in one vectorised call.
* **Sketch**: 64 MinHash values from 32-bit multiplicative hashes of the shingles (uint32 arithmetic, one
  numpy broadcast of shingles x hash functions, no Python loop over characters). On random pairs the estimate
  of Jaccard is unbiased (mean error < 0.001) with a standard error of about 0.04. Texts are cut to their
  first 200 normalised characters so that the cost per text stays bounded.
* **Index**: LSH banding, 16 bands of 4 values, finds candidate symptoms in a few dictionary look-ups; the
  candidates are then verified on the whole sketch (estimated Jaccard >= ``similarity``). A pair at Jaccard
  0.6 becomes a candidate with probability 0.89, at 0.7 with 0.99, at 0.3 with 0.12. A bucket keeps its
  first 16 exemplars: a bucket that many texts share comes from a common phrase ("not working") and says
  little, and the first comers are the symptoms that must stay found (the everyday complaints).
* **Symptoms** are leader clusters: a text joins the symptom whose exemplar it resembles most, else it founds
  a new one. A symptom keeps up to eight exemplars (matching variants unlike every exemplar so far), so a
  third spelling that resembles the second but not the first still joins, while chains stay short.
  Two looser, exhaustive searches serve rarer needs: a text that matches no symptom joins the closest
  *watched* symptom at a looser similarity (a rewording of a symptom the caller expects), and
  :meth:`SymptomIndex.established_neighbours` lists the symptoms near a text among those the caller marked
  established. The watched and the
  established symptoms' exemplars are kept side by side as the groups change (``_Columns``), so that these
  searches cost one vectorised pass over thousands of exemplars, not a gather of them at every call.
* **Words**, for rewordings that keep a fault's words but not its letters ("my receipt has a stranger's name"
  and "got a receipt with another customer's name" share an eighth of their 3-grams): :func:`content_words`
  gives a text's lightly stemmed words, and :func:`one_typo_apart` tells a misspelling of a known word. Which
  words are rare, and so telling, is the caller's to learn (:mod:`correlate.detectors.symptom`); a text the
  caller matches by words joins with :meth:`SymptomIndex.join`.

Cost: ``python benchmarks/symptom_cost.py`` prints it. Sketches are cached by raw text and
symptoms by normalised text, so a text seen before costs well under a microsecond. Everything is
deterministic: hash constants come from a fixed seed, and no Python ``hash()`` of a string decides anything.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from sys import intern
from typing import Final, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from correlate.detectors.templates import digest

__all__ = [
    "BANDS",
    "MAX_CHARS",
    "MAX_EXEMPLARS",
    "MIN_CHARS",
    "SKETCH_SIZE",
    "Signature",
    "Sketch",
    "Sketcher",
    "SymptomIndex",
    "band_keys",
    "band_keys_of_rows",
    "central_texts",
    "content_words",
    "normalise",
    "one_typo_apart",
    "signature",
    "signatures",
]

SKETCH_SIZE: Final = 64
BANDS: Final = 16
MAX_CHARS: Final = 200
MIN_CHARS: Final = 4
MAX_EXEMPLARS: Final = 8
_NOVEL_BELOW: Final = 0.85  # a matching text less similar than this to every exemplar becomes one
_CACHE_LIMIT: Final = 1 << 16
_SKETCHES_KEPT: Final = 1 << 14  # texts per generation of the sketch memo (see _Recent)
_OPENING: Final = 2 * MAX_CHARS  # characters of a long text normalised first (see normalise)
_BUCKET_LIMIT: Final = 16  # exemplars kept per LSH bucket: bounds the candidates of one look-up

_APOSTROPHES = re.compile(r"['’`´]")
_NOT_WORD = re.compile(r"[\W_]+")
_LONG_NUMBER = re.compile(r"\d{5,}")
_ASCII_PUNCTUATION = string.punctuation.encode()
_ASCII_TO_SPACE = bytes.maketrans(_ASCII_PUNCTUATION, b" " * len(_ASCII_PUNCTUATION))
_NEGATION = re.compile(r"\b(can|do|does|did|is|are|was|were|could|would|should|has|have|had|will)\s*not\b")
_NEGATED = {"can": "cant", "will": "wont"}
_FILLER_WORDS: Final = (  # words that carry no symptom: articles, pronouns, greetings
    "a an the my i im ive me we our you your it its is am are be been to of for and so just please pls hi "
    "hello hey thanks thank any some this that there again still urgent help"
)
_FILLER: Final = frozenset(_FILLER_WORDS.split())

Signature = npt.NDArray[np.uint32]
_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def _splitmix64(seed: int, count: int) -> list[int]:
    """Fixed pseudo-random 64-bit constants (the same on every machine and numpy version)."""
    out, state, mask = [], seed, (1 << 64) - 1
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(z ^ (z >> 31))
    return out


_CONSTANTS = _splitmix64(20_260_302, SKETCH_SIZE + 2 + BANDS)
_MULTIPLIERS = np.array([c | 1 for c in _CONSTANTS[:SKETCH_SIZE]], dtype=np.uint64).astype(np.uint32)
_BAND_MIX = np.array([c | 1 for c in _CONSTANTS[SKETCH_SIZE : SKETCH_SIZE + 2]], dtype=np.uint64)
_BAND_SALT = np.array(_CONSTANTS[SKETCH_SIZE + 2 :], dtype=np.uint64)
_LOW_24 = np.uint32(0xFFFFFF)


def _unnegate(match: re.Match[str]) -> str:
    verb = match.group(1)
    return _NEGATED.get(verb, verb + "nt")


def normalise(text: str) -> str:
    """The comparable form of a free text: ``"Cannot post a comment!!"`` -> ``"cant post comment"``.

    Only the first ``MAX_CHARS`` normalised characters are kept, so a long narrative is normalised from its
    opening (``_OPENING`` characters, cut at a space) when that yields them before its last word: only the last
    word can change with what follows (``"does"`` and a ``"not"`` after the cut make ``"doesnt"``), and the rest
    is the same as from the whole text. Half of the cost of a narrative's sketch was normalising what is cut.
    """
    text = text.casefold()
    ascii_only = text.isascii()  # decided on the whole text, as the words are
    if len(text) > _OPENING:
        cut = text.rfind(" ", 0, _OPENING)
        if cut > 0:
            words = _normalised_words(text[:cut], ascii_only)
            head = " ".join(words[:-1])
            if len(head) >= MAX_CHARS:
                return head[:MAX_CHARS]
    return " ".join(_normalised_words(text, ascii_only))[:MAX_CHARS]


def _normalised_words(text: str, ascii_only: bool) -> list[str]:
    """The words of a casefolded text, as :func:`normalise` keeps them."""
    if ascii_only:  # the common case, done by a byte table instead of regular expressions
        text = text.encode().translate(_ASCII_TO_SPACE, b"'`").decode()
    else:
        text = _NOT_WORD.sub(" ", _APOSTROPHES.sub("", text))
    text = _LONG_NUMBER.sub(" # ", text)
    if "not" in text:
        text = _NEGATION.sub(_unnegate, text)
    return [word for word in text.split() if word not in _FILLER]


def content_words(normalised: str, stems: dict[str, str] | None = None) -> frozenset[str]:
    """The words of a normalised text that may name a symptom, lightly stemmed: ``"comments wont post"`` ->
    ``{"comment", "wont", "post"}``.

    Rewordings of one fault share few character 3-grams but keep its nouns and verbs ("receipt", "name";
    "comment", "post", "live"). Words of two letters say nothing; numbers of two digits or more are kept (error
    codes, "stuck at 99"). The stemmer only folds the endings that rewording changes most (plural ``-s``,
    ``-ing``, ``-ed``: Harman's S-stemmer and two of its siblings): a dictionary stemmer would fold more, at a
    dependency's cost, and wrong folds join unrelated texts. ``stems``: a memo of words already stemmed (most
    words recur), which the caller bounds.
    """
    if stems is None:
        stems = {}
    words = set()
    for word in normalised.split():
        stem = stems.get(word)
        if stem is None:
            stem = stems[word] = _stem(word)
        if stem:
            words.add(stem)
    return frozenset(words)


def _stem(word: str) -> str:
    """A word as :func:`content_words` keeps it, interned (one string per word, however many texts in memory use
    it), or "" for a word it drops."""
    if word.isdigit():
        return intern(word) if len(word) >= 2 else ""
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)]
            break
    return intern(word) if len(word) >= 3 else ""


def one_typo_apart(first: str, second: str) -> bool:
    """Whether two different words differ by one typo: a character dropped, added, replaced, or two neighbours
    swapped (Damerau's four kinds of single error, which cover most misspellings)."""
    if first == second or abs(len(first) - len(second)) > 1:
        return False
    if len(first) > len(second):
        first, second = second, first
    start = 0
    while start < len(first) and first[start] == second[start]:
        start += 1
    if len(first) < len(second):
        return first[start:] == second[start + 1 :]
    return first[start + 1 :] == second[start + 1 :] or (
        first[start + 2 :] == second[start + 2 :] and first[start : start + 2] == second[start : start + 2][::-1]
    )


def signature(normalised: str) -> Signature:
    """MinHash sketch of the character 3-grams of ``" " + normalised + " "`` (:func:`signatures` of one)."""
    sig: Signature = signatures([normalised])[0]
    return sig


def signatures(texts: Sequence[str]) -> Signature:
    """The MinHash sketch of each normalised text, one row each, computed in one numpy pass: for a short text,
    numpy's cost per call is most of the cost of its sketch, so a batch costs little more than one text."""
    data = [f" {normalised} \0".encode() for normalised in texts]
    # A little-endian uint32 view that steps one byte at a time reads every 4-byte window; masking the top byte
    # leaves every 3-gram as a 24-bit code. No Python loop over characters.
    windows = [np.ndarray((len(one) - 3,), dtype="<u4", buffer=one, strides=(1,)) for one in data]
    starts = np.cumsum([0, *[len(one) - 3 for one in data[:-1]]])
    shingles = np.concatenate(windows) & _LOW_24
    # Hash k of a shingle is multiplier_k * code mod 2**32; the minimum over a text's shingles is its k-th MinHash.
    hashed: Signature = np.minimum.reduceat(shingles[:, np.newaxis] * _MULTIPLIERS, starts, axis=0)
    return hashed


def band_keys(sig: Signature) -> list[int]:
    """One 64-bit key per band of ``SKETCH_SIZE // BANDS`` values, salted by band so bands never collide."""
    return band_keys_of_rows(sig[np.newaxis])[0]


def band_keys_of_rows(sigs: Signature) -> list[list[int]]:
    """:func:`band_keys` of each row of ``sigs``, in one numpy pass."""
    pairs = sigs.view(np.uint64).reshape(len(sigs), BANDS, -1)
    keys: list[list[int]] = (pairs @ _BAND_MIX[: pairs.shape[2]] + _BAND_SALT).tolist()
    return keys


@dataclass(frozen=True, slots=True)
class Sketch:
    """A free text as the index sees it: the text as written, its normalised form, MinHash and band keys, and
    its content words (sorted)."""

    text: str
    normalised: str
    signature: Signature
    keys: tuple[int, ...]
    words: tuple[str, ...] = ()
    digest: int = 0  # a stable 64-bit digest of ``normalised`` (templates.digest), computed once per text


def central_texts(texts: Mapping[str, tuple[Sketch, int]], limit: int) -> tuple[str, ...]:
    """Up to ``limit`` texts, most central first: the first is the medoid of the texts weighted by ``n``.

    ``texts`` maps each text as written to its sketch and its weight (say, how many customers wrote it).
    """
    if len(texts) <= 1:
        return tuple(texts)
    sigs = np.stack([sketch.signature for sketch, _ in texts.values()])
    similar = (sigs[:, np.newaxis, :] == sigs[np.newaxis, :, :]).mean(axis=2)  # estimated Jaccard, all pairs
    centrality = similar @ np.array([n for _, n in texts.values()], dtype=np.float64)
    order = sorted(range(len(texts)), key=lambda i: (-centrality[i], i))
    written = list(texts)
    return tuple(written[i] for i in order[:limit])


class _Recent(Generic[_Key, _Value]):
    """A bounded memo in two generations of at most ``size`` entries each: an entry found in the older moves to
    the newer, and when the newer is full the older is dropped. What recurs stays and one-offs go, within 2 x
    ``size`` entries; a memo emptied when full would hold as many at its peak and lose the recurring ones too."""

    __slots__ = ("_newer", "_older", "_size")

    def __init__(self, size: int) -> None:
        self._newer: dict[_Key, _Value] = {}
        self._older: dict[_Key, _Value] = {}
        self._size = size

    def __contains__(self, key: _Key) -> bool:
        return key in self._newer or key in self._older

    def __getitem__(self, key: _Key) -> _Value:
        newer = self._newer
        if key in newer:
            return newer[key]
        value = self._older.pop(key)
        self[key] = value
        return value

    def __setitem__(self, key: _Key, value: _Value) -> None:
        if len(self._newer) >= self._size:
            self._older, self._newer = self._newer, {}
        self._newer[key] = value

    def get(self, key: _Key) -> _Value | None:
        try:
            return self[key]
        except KeyError:
            return None


class Sketcher:
    """Normalises and sketches texts, remembering the recent ones (:class:`_Recent`, ``_SKETCHES_KEPT`` a
    generation): recurring complaints are sketched once, and customers' one-off texts leave the memory again."""

    def __init__(self) -> None:
        self._by_text: _Recent[str, Sketch | None] = _Recent(_SKETCHES_KEPT)
        self._by_normalised: _Recent[str, Sketch] = _Recent(_SKETCHES_KEPT)
        self._stems: dict[str, str] = {}  # word -> its stem (content_words), emptied when full

    def sketch(self, text: str) -> Sketch | None:
        """The sketch of ``text``, or None when nothing comparable is left after normalisation."""
        if text not in self._by_text:
            self.prime((text,))
        return self._by_text[text]

    def prime(self, texts: Iterable[str]) -> None:
        """Sketch the texts not seen before all at once, for :meth:`sketch` to find, with the MinHash and band
        keys of all computed in one numpy pass (:func:`signatures`) rather than a few numpy calls per text. A step
        brings tens of new texts when customers write in their own words. Texts that normalise alike share one
        signature, band keys and words."""
        by_text, by_normalised = self._by_text, self._by_normalised
        new = [text for text in dict.fromkeys(texts) if text not in by_text]
        unsketched: dict[str, list[str]] = {}  # normalised text -> the texts as written
        for text in new:
            normalised = normalise(text)
            if len(normalised) < MIN_CHARS:
                by_text[text] = None
                continue
            twin = by_normalised.get(normalised)
            if twin is None:
                unsketched.setdefault(normalised, []).append(text)
            else:
                by_text[text] = Sketch(_shown(text), normalised, twin.signature, twin.keys, twin.words, twin.digest)
        if not unsketched:
            return
        sigs = signatures(list(unsketched))
        for (normalised, written), sig, keys in zip(unsketched.items(), sigs, band_keys_of_rows(sigs), strict=True):
            if len(self._stems) >= _CACHE_LIMIT:
                self._stems.clear()
            words, key = tuple(sorted(content_words(normalised, self._stems))), digest(normalised)
            for text in written:
                by_text[text] = by_normalised[normalised] = Sketch(
                    _shown(text), normalised, sig, tuple(keys), words, key
                )


def _shown(text: str) -> str:
    """A text as a sketch shows it: its words, cut to ``MAX_CHARS``."""
    return " ".join(text.split())[:MAX_CHARS]


class _Columns:
    """The slots of a group of symptoms with their signatures side by side, one column per slot.

    The exhaustive searches (a loose match among the watched symptoms, the neighbours among the established
    ones) compare a text with every slot of a group. Gathering the group's rows out of the index at every call
    cost more than comparing: here the group is kept as it changes, and a comparison is one pass down 64 rows
    with counts summed in bytes. Columns keep the order their slots joined in, so that ties go to the earliest,
    as they did when the group was a dictionary; a slot that leaves leaves a dead column (counted -1, below any
    bar), squeezed out once dead columns are the majority.
    """

    def __init__(self) -> None:
        self._sigs: Signature = np.zeros((SKETCH_SIZE, 64), dtype=np.uint32)
        self._slots: npt.NDArray[np.intp] = np.zeros(64, dtype=np.intp)  # -1: a dead column
        self._column: dict[int, int] = {}  # live slot -> its column
        self._size = 0  # columns in use, live or dead

    def __len__(self) -> int:
        return len(self._column)

    def add(self, slot: int, sig: Signature) -> None:
        if self._size == len(self._slots):
            self._sigs = np.concatenate([self._sigs, np.zeros_like(self._sigs)], axis=1)
            self._slots = np.concatenate([self._slots, np.zeros_like(self._slots)])
        self._sigs[:, self._size] = sig
        self._slots[self._size] = slot
        self._column[slot] = self._size
        self._size += 1

    def remove(self, slot: int) -> None:
        self._slots[self._column.pop(slot)] = -1
        if self._size - len(self._column) > max(64, len(self._column)):
            alive = self._slots[: self._size] >= 0
            live = len(self._column)
            self._sigs[:, :live] = self._sigs[:, : self._size][:, alive]
            self._slots[:live] = self._slots[: self._size][alive]
            self._size = live
            self._column = {slot: column for column, slot in enumerate(self._slots[:live].tolist())}

    def count_equal(self, sig: Signature) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int8]]:
        """Every column's slot (-1 if dead) and how many values it has in common with ``sig`` (-1 if dead)."""
        size = self._size
        slots = self._slots[:size]
        equal: npt.NDArray[np.int8] = (self._sigs[:, :size] == sig[:, np.newaxis]).sum(axis=0, dtype=np.int8)
        if size > len(self._column):
            equal[slots < 0] = -1
        return slots, equal


class SymptomIndex:
    """Assigns sketches to symptoms (stable integer ids) by LSH look-up and MinHash verification.

    ``similarity`` is the estimated Jaccard similarity of 3-gram sets that a text needs with one of a
    symptom's exemplars to join it. Memory is what the caller keeps: :meth:`forget` drops a symptom.
    """

    def __init__(self, similarity: float) -> None:
        self.similarity = similarity
        self._need = int(np.ceil(similarity * SKETCH_SIZE))
        self._novel = int(np.ceil(_NOVEL_BELOW * SKETCH_SIZE))
        self._sigs: Signature = np.zeros((1024, SKETCH_SIZE), dtype=np.uint32)
        self._slot_owner: list[int] = []
        self._free: list[int] = []
        # Band key -> slots, as tuples: most of a few hundred thousand buckets hold one slot, and a tuple of one
        # weighs half a list of one.
        self._buckets: dict[int, tuple[int, ...]] = {}
        self._exemplars: dict[int, list[int]] = {}
        self._by_normalised: dict[str, int] = {}
        self._watched: dict[int, None] = {}
        self._watched_columns = _Columns()
        self._established: dict[int, None] = {}
        self._established_columns = _Columns()
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._exemplars)

    def assign(self, sketch: Sketch, loose: float = 1.0) -> int:
        """The id of the symptom this text belongs to (:meth:`match`), founding a new one when none is close."""
        symptom = self.match(sketch, loose)
        return self.found(sketch) if symptom is None else symptom

    def match(self, sketch: Sketch, loose: float = 1.0) -> int | None:
        """The symptom this text belongs to, if any: one with an exemplar at ``similarity``, else the closest
        *watched* symptom at ``loose`` similarity or more — a second chance for symptoms the caller expects (say,
        rare ones seen in the last hour, which a rewording should join rather than split)."""
        known = self._by_normalised.get(sketch.normalised)
        if known is not None and known in self._exemplars:
            return known
        symptom = self._match(sketch, *self._candidates(sketch), self._need)
        if symptom is None and self._watched_columns:
            slots, equal = self._watched_columns.count_equal(sketch.signature)
            symptom = self._match(sketch, slots, equal, int(np.ceil(loose * SKETCH_SIZE)))
        if symptom is not None:
            self._remember(sketch, symptom)
        return symptom

    def found(self, sketch: Sketch) -> int:
        """A new symptom with this text as its first exemplar."""
        symptom, self._next_id = self._next_id, self._next_id + 1
        self._exemplars[symptom] = []
        self._store(sketch, symptom)
        self._remember(sketch, symptom)
        return symptom

    def join(self, sketch: Sketch, symptom: int) -> None:
        """Make the text a member of a symptom the caller matched by other means (a rewording, by its words); it
        becomes an exemplar while the symptom has room, so that its own near-duplicates join directly."""
        if len(self._exemplars[symptom]) < MAX_EXEMPLARS:
            self._store(sketch, symptom)
        self._remember(sketch, symptom)

    def _remember(self, sketch: Sketch, symptom: int) -> None:
        if len(self._by_normalised) >= _CACHE_LIMIT:
            self._by_normalised.clear()
        self._by_normalised[sketch.normalised] = symptom

    def watch(self, symptom: int, watched: bool) -> None:
        """Let rewordings join the symptom (see :meth:`assign`), or stop."""
        if watched != (symptom in self._watched):
            if watched:
                self._watched[symptom] = None
            else:
                del self._watched[symptom]
            for slot in self._exemplars.get(symptom, ()):
                if watched:
                    self._watched_columns.add(slot, self._sigs[slot])
                else:
                    self._watched_columns.remove(slot)

    def establish(self, symptom: int) -> None:
        """Count the symptom among the established ones, which :meth:`established_neighbours` searches, until it
        is forgotten."""
        if symptom not in self._established and symptom in self._exemplars:
            self._established[symptom] = None
            for slot in self._exemplars[symptom]:
                self._established_columns.add(slot, self._sigs[slot])

    def forget(self, symptom: int) -> None:
        self.watch(symptom, False)
        if symptom in self._established:
            del self._established[symptom]
            for slot in self._exemplars.get(symptom, ()):
                self._established_columns.remove(slot)
        for slot in self._exemplars.pop(symptom, ()):
            for key in band_keys(self._sigs[slot]):  # the keys it was filed under: its sketch's
                bucket = self._buckets.get(key)
                if bucket is not None and slot in bucket:  # it may have been pushed out of a full bucket
                    rest = tuple(other for other in bucket if other != slot)
                    if rest:
                        self._buckets[key] = rest
                    else:
                        del self._buckets[key]
            self._free.append(slot)

    def established_neighbours(self, sketches: Iterable[Sketch], similarity: float) -> list[int]:
        """The established symptoms (:meth:`establish`) with an exemplar at estimated similarity >= ``similarity``
        to one of the texts. Every exemplar is compared (no LSH), so none is missed; they are kept side by side as
        they come and go, rather than gathered at every call, which with thousands of symptoms cost milliseconds."""
        need, near = int(np.ceil(similarity * SKETCH_SIZE)), {}
        for sketch in sketches:
            slots, equal = self._established_columns.count_equal(sketch.signature)
            hits = slots[equal >= need].tolist()
            near.update(dict.fromkeys(self._slot_owner[slot] for slot in hits))
        return list(near)

    def _candidates(self, sketch: Sketch) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint8]]:
        """Slots sharing a band with the sketch, in the order found, and how many sketch values each has in
        common with it.

        Similar texts share most bands, so most candidates come several times. They are compared as often as
        they come: comparing a row again costs less than removing repeats in Python, and the first best is the
        same slot either way (a slot's first coming is the first place its count can be the best).
        """
        get = self._buckets.get
        slots = np.fromiter(chain.from_iterable([get(key, ()) for key in sketch.keys]), dtype=np.intp)
        rows = self._sigs.take(slots, axis=0)
        equal: npt.NDArray[np.uint8] = (rows == sketch.signature).sum(axis=1, dtype=np.uint8)
        return slots, equal

    def _match(
        self, sketch: Sketch, slots: npt.NDArray[np.intp], equal: npt.NDArray[np.uint8 | np.int8], need: int
    ) -> int | None:
        """The symptom of the most similar slot if it has ``need`` equal values; a novel match is kept."""
        if not len(slots):
            return None
        best = int(equal.argmax())
        most = int(equal[best])
        if most < need:
            return None
        symptom = self._slot_owner[int(slots[best])]
        if most < self._novel and len(self._exemplars[symptom]) < MAX_EXEMPLARS:
            self._store(sketch, symptom)
        return symptom

    def _store(self, sketch: Sketch, symptom: int) -> None:
        if self._free:
            slot = self._free.pop()
            self._slot_owner[slot] = symptom
        else:
            slot = len(self._slot_owner)
            if slot == len(self._sigs):
                self._sigs = np.concatenate([self._sigs, np.zeros_like(self._sigs)])
            self._slot_owner.append(symptom)
        self._sigs[slot] = sketch.signature
        buckets = self._buckets
        for key in sketch.keys:
            bucket = buckets.get(key, ())
            if len(bucket) < _BUCKET_LIMIT:  # a full bucket keeps its first exemplars: common symptoms stay found
                buckets[key] = (*bucket, slot)
        self._exemplars[symptom].append(slot)
        if symptom in self._watched:
            self._watched_columns.add(slot, sketch.signature)
        if symptom in self._established:
            self._established_columns.add(slot, sketch.signature)
