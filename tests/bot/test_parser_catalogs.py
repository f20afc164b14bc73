"""The parser on generated catalogues of other shapes (bench/catalogs.py): each catalogue's
template corpus must keep at least 97 % of every field right and never pick a wrong SKU."""

from __future__ import annotations

import pytest

from bench.catalogs import SHAPES, build, corpus
from bench.parser_eval import FIELDS, score

FLOOR = 0.97


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_generated_catalogue_is_read_field_by_field(name: str) -> None:
    cat = build(name, seed=11)
    assert len(cat.products) == SHAPES[name]["size"]
    assert len({p.sku for p in cat.products}) == len(cat.products)
    cases = corpus(cat, seed=11)
    assert len(cases) >= 60
    totals, misses, wrong = score(cases, cat.index())
    assert wrong == []  # confident and wrong: never
    for field in FIELDS:
        marks = totals[field]
        assert sum(marks) / len(marks) >= FLOOR, (field, misses)


def test_generated_catalogues_have_different_shapes() -> None:
    skus = {name: build(name, seed=11).products[0].sku for name in SHAPES}
    assert "." in skus["dotted"] and "-" in skus["dashed"] and skus["numeric"].isdigit()
    assert skus["dashed"] == skus["dashed"].lower()
