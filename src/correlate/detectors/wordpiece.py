"""BERT's WordPiece tokenizer (uncased), for the static sentence vectors of :mod:`correlate.detectors.embedding`.

The packaged model comes with its vocabulary; its tokenizer is two rules, written here rather than taken from a
tokenizer library (whose hub client pins a command-line toolkit that the Faust runner's pin excludes):

* *basic*: casefold, strip accents (the combining marks left by NFD), split on white space and around every
  punctuation character;
* *word pieces*: each word becomes the longest vocabulary entry that starts it, then the longest ``##``
  continuation, and so on; a word with a piece outside the vocabulary is ``[UNK]``, one longer than 100
  characters too (BERT's own rules).

Words come back in the order written, cut to ``max_words``: a narrative's first hundred words say what it is
about, and the cost per text stays bounded. Redaction marks (``XXXX``, ``XX/XX/XXXX``: complaint databases
blank names, places and dates with x's) are dropped: they say nothing about the fault and every narrative
has them. Word pieces are remembered per word (most words recur), in a memo that is emptied when full.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

__all__ = ["WordPieces"]

_MAX_WORD_CHARS = 100
_CHARS_PER_WORD = 8  # generous: English words average under six letters and a space
_MEMO_LIMIT = 1 << 17
_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_REDACTED = re.compile(r"x{2,}")
_MARKS = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")  # combining marks


class WordPieces:
    """Text -> vocabulary ids, as BERT's uncased tokenizer (without ``[CLS]``/``[SEP]``)."""

    def __init__(self, vocabulary: Mapping[str, int], unknown: str = "[UNK]") -> None:
        self._vocabulary = dict(vocabulary)
        self._unknown = self._vocabulary[unknown]
        self._memo: dict[str, tuple[int, ...]] = {}

    def ids(self, text: str, max_words: int) -> list[int]:
        """The ids of the text's first ``max_words`` words (punctuation marks count as words, as in BERT)."""
        memo = self._memo
        out: list[int] = []
        for word in _words(text, max_words):
            pieces = memo.get(word)
            if pieces is None:
                pieces = self._pieces(word)
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                memo[word] = pieces
            out += pieces
        return out

    def _pieces(self, word: str) -> tuple[int, ...]:
        if len(word) > _MAX_WORD_CHARS:
            return (self._unknown,)
        vocabulary, pieces, start = self._vocabulary, [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = vocabulary.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return (self._unknown,)
            pieces.append(found)
            start = end
        return tuple(pieces)


def _words(text: str, max_words: int) -> list[str]:
    """Casefolded, accent-free words and punctuation marks, redaction marks left out. The text is cut first, at
    ``_CHARS_PER_WORD`` characters a word, so that the cost of a long narrative stays bounded."""
    text = text[: max_words * _CHARS_PER_WORD].casefold()
    if not text.isascii():
        text = _MARKS.sub("", unicodedata.normalize("NFD", text))
    words = _WORDS.findall(text)
    if "xx" in text:  # only then can there be a redaction mark
        words = [word for word in words if not _REDACTED.fullmatch(word)]
    return words[:max_words]
