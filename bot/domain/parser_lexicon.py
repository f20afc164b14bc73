"""Longest-leftmost matching of known words in order text (pure)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass


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

    Words are looked up by their first two characters (one for one-character words) at the
    positions whose character can start a word (found by one regex pass), so the rest of
    the text costs nothing.
    """

    def __init__(self, words: dict[str, Entry]) -> None:
        by_head: dict[str, list[tuple[str, Entry]]] = defaultdict(list)
        for word, entry in words.items():
            if word:
                by_head[word[:2]].append((word, entry))
        self._by_head = {h: sorted(ws, key=lambda w: -len(w[0])) for h, ws in by_head.items()}
        firsts = sorted({h[0] for h in self._by_head})
        self._starts = re.compile(f"[{''.join(map(re.escape, firsts))}]" if firsts else "(?!)")

    def scan(self, text: str, taken: bytearray) -> list[tuple[Entry, int, int]]:
        out: list[tuple[Entry, int, int]] = []
        by_head, n, resume = self._by_head, len(text), 0
        for start in self._starts.finditer(text):
            i = start.start()
            if i < resume or taken[i]:
                continue
            for head in (text[i:i + 2], text[i]):
                found = _longest(text, i, n, taken, by_head.get(head, ()))
                if found is not None:
                    out.append((found[1], i, found[0]))
                    resume = found[0]
                    break
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
