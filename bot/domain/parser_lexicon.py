"""Longest-leftmost matching of known words in order text (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ahocorasick


@dataclass(frozen=True)
class Entry:
    """What a lexicon word means: a feature kind, its key and the products having it."""

    kind: str  # term | brand | model | make | cat
    key: str
    bits: int
    exact: int = 0  # for terms: products whose term is exactly this word
    typeish: bool = False  # a part type (刹车片, 机油滤清器), not a series (极护, 浩悦4)


def _alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class Lexicon:
    """Longest-leftmost matching of known words; ASCII words must stand alone (NGK, H6).

    An Aho-Corasick automaton (pyahocorasick) finds every occurrence of every word in one
    pass in C; only the few occurrences found are looked at here.
    """

    def __init__(self, words: dict[str, Entry]) -> None:
        self._automaton = ahocorasick.Automaton()
        for word, entry in words.items():
            if word:
                self._automaton.add_word(word, (word, entry))
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()

    def scan(self, text: str, taken: bytearray) -> list[tuple[Entry, int, int]]:
        out: list[tuple[Entry, int, int]] = []
        if self._empty:
            return out
        at: dict[int, list[tuple[str, Entry]]] = {}
        for last, (word, entry) in self._automaton.iter(text):
            at.setdefault(last - len(word) + 1, []).append((word, entry))
        n, resume = len(text), 0
        for i in sorted(at):
            if i < resume or taken[i]:
                continue
            found = _longest(text, i, n, taken, sorted(at[i], key=lambda w: -len(w[0])))
            if found is not None:
                out.append((found[1], i, found[0]))
                resume = found[0]
        return out


def _longest(text: str, i: int, n: int, taken: bytearray,
             words: Sequence[tuple[str, Entry]]) -> tuple[int, Entry] | None:
    """(end, entry) of the longest of `words` (longest first) standing at `i`."""
    for word, entry in words:
        end = i + len(word)
        if not text.startswith(word, i) or any(taken[i:end]):
            continue
        # a Latin word is whole, unless what touches it was already read (1.8TMANN)
        if _alnum(word[0]) and i > 0 and _alnum(text[i - 1]) and not taken[i - 1]:
            continue
        if _alnum(word[-1]) and end < n and _alnum(text[end]) and not taken[end]:
            continue
        return end, entry
    return None
