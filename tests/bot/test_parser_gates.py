"""The parser skips a pattern when a word it cannot match without is absent (a gate). A gate
that is wrong would silently drop specs, prices, invoice details or positions, so each one
is checked here against its pattern: by the pattern's own words where it is a list of words,
and by generated text where it is not (any match must hold a gate word)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import parser_chunks as C
from bot.domain import parser_fields as F
from bot.domain import parser_text as T
from bot.domain.parser_lexicon import Entry, Lexicon

# characters the patterns care about, and a few they do not
ALPHABET = ("0123456789 .-/:*×@=¥\"°"
            "ABCDHKLMQRSTVWXYZ"
            "升毫公斤寸英度零下元块钱每一个套支桶瓶对数量共各要来订拿价单含税未报售合计小金额总"
            "前后左右四轮面边桥侧之以提天台然稍随那"
            "票专普增值税用发电子不开无需要免识别号代码纳人统社会信用户银行账帐卡支"
            "刹车片滤清器博世朗逸二十两三百")


KUAI = T.units_for(("块", "卷"))  # a catalogue that sells by the 块 and the 卷


def _words(pattern: re.Pattern[str]) -> list[str]:
    """The literal words of a pattern that is (a group of) alternatives: 专票|增专 …"""
    source = pattern.pattern
    group = re.match(r"\(\?:([^()]*)\)", source)
    body = group[1] if group else source
    words = body.split("|")
    assert all(re.fullmatch(r"[\u4e00-\u9fff]+", w) for w in words), words
    return words


def test_every_invoice_word_passes_its_gate() -> None:
    for pattern in (F._INVOICE_NONE, F._INVOICE_SPECIAL, F._INVOICE_NORMAL):
        for word in _words(pattern):
            assert any(g in word for g in F.INVOICE_GATE), word
    for pattern, gate in ((F._TAX_LABEL, F.TAX_LABEL_GATE), (F._BANK, F.BANK_GATE),
                          (F._ACCOUNT, F.ACCOUNT_GATE)):
        for word in _words(pattern):
            assert any(g in word for g in gate), word


def test_every_position_word_is_found_by_the_hint() -> None:
    for word, _ in C._POS_WORDS:
        assert C._POS_HINT.search(word), word


def test_a_gated_invoice_is_still_read() -> None:
    inv = F.Invoice()
    rest = F.take_invoice("开专票 开户行:招商银行杭州分行 账号:6225 8801 2345 6789", inv)
    assert inv.types_seen == {"专票"}
    assert inv.bank == "招商银行杭州分行"
    assert inv.account == "6225880123456789"
    assert "招商" not in rest


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=24))
def test_no_spec_price_or_quantity_pattern_matches_without_its_gate(text: str) -> None:
    for _kind, pattern, _value, needs in T._SPECS:
        if pattern.search(text):
            assert T._DIGIT.search(text) and any(n in text for n in needs), (pattern, text)
    for units in (T.SHIPPED_UNITS, KUAI):
        for pattern, needs in units.prices:
            if pattern.search(text):
                assert any(n in text for n in needs), (pattern, text)
        if units.qty_times_price.search(text):
            assert "=" in text
        for pattern in (units.qty_marked, units.qty_unit, T._QTY_BARE, T._QTY_BARE_CN):
            if pattern.search(text):
                digits = bool(T._DIGIT.search(text))
                numerals = not T._CN_NUMERALS.isdisjoint(text)
                assert (digits if pattern is T._QTY_BARE else numerals
                        if pattern is T._QTY_BARE_CN else digits or numerals), (pattern, text)
    if F._ADMIN.search(text) is None and F._ROAD_NUMBER.search(text) is None:
        assert F.find_address(text) is None or F._ADDRESS_LABEL.search(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="前后刹车片机油滤清器博世 ABH7", max_size=20), st.data())
def test_lexicon_finds_the_same_words_as_a_scan_of_every_position(text: str,
                                                                   data: st.DataObject) -> None:
    words = {w: Entry("term", w, 1 << i) for i, w in
             enumerate(("刹车片", "前刹车片", "机油滤清器", "滤清器", "博世", "H7", "AB"))}
    lexicon = Lexicon(words)
    taken = bytearray(data.draw(st.lists(st.sampled_from((0, 1)), min_size=len(text),
                                         max_size=len(text))))
    found = [(e.key, s, t) for e, s, t in lexicon.scan(text, bytearray(taken))]
    # the plain reading: at each free position the longest word standing alone, then skip it
    expected, i = [], 0
    ordered = sorted(words, key=len, reverse=True)
    while i < len(text):
        hit = None
        if not taken[i]:
            for w in ordered:
                end = i + len(w)
                if not text.startswith(w, i) or any(taken[i:end]):
                    continue
                if w.isascii() and ((i > 0 and text[i - 1].isascii() and text[i - 1].isalnum()
                                     and not taken[i - 1])
                                    or (end < len(text) and text[end].isascii()
                                        and text[end].isalnum() and not taken[end])):
                    continue
                hit = w
                break
        if hit:
            expected.append((hit, i, i + len(hit)))
            i += len(hit)
        else:
            i += 1
    assert found == expected
