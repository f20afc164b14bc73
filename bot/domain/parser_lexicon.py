"""Longest-leftmost matching of known words in order text (pure)."""

from __future__ import annotations

from collections import defaultdict
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

    Words are looked up by their first two characters (one for one-character words), so a
    position costs a dict lookup unless a word can start there.
    """

    def __init__(self, words: dict[str, Entry]) -> None:
        by_head: dict[str, list[tuple[str, Entry]]] = defaultdict(list)
        for word, entry in words.items():
            if word:
                by_head[word[:2]].append((word, entry))
        self._by_head = {h: sorted(ws, key=lambda w: -len(w[0])) for h, ws in by_head.items()}
        self._firsts = frozenset(h[0] for h in self._by_head)

    def scan(self, text: str, taken: bytearray) -> list[tuple[Entry, int, int]]:
        out: list[tuple[Entry, int, int]] = []
        firsts, i, n = self._firsts, 0, len(text)
        while i < n:
            if text[i] not in firsts or taken[i]:
                i += 1
                continue
            hit = self._at(text, i, taken)
            if hit is None:
                i += 1
                continue
            word, entry = hit
            out.append((entry, i, i + len(word)))
            i += len(word)
        return out

    def _at(self, text: str, i: int, taken: bytearray) -> tuple[str, Entry] | None:
        for head in (text[i:i + 2], text[i]):
            for word, entry in self._by_head.get(head, ()):
                end = i + len(word)
                if not text.startswith(word, i) or any(taken[i:end]):
                    continue
                # a Latin word is whole, unless what touches it was already read (1.8TMANN)
                if _alnum(word[0]) and i > 0 and _alnum(text[i - 1]) and not taken[i - 1]:
                    continue
                if (_alnum(word[-1]) and end < len(text) and _alnum(text[end])
                        and not taken[end]):
                    continue
                return word, entry
        return None
