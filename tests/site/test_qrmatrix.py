"""site/qrmatrix.py: every matrix it makes from deltas is segno's own, for the handouts' addresses and for any text."""

from __future__ import annotations

import random

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from trialfinder.site import qrmatrix
from trialfinder.site.qrmatrix import qr_matrix


def segnos(text: str) -> tuple[int, bytes]:
    code = segno.make(text, error="m", mask=0)
    return len(code.matrix), b"".join(code.matrix)


@pytest.fixture(autouse=True)
def fresh_families() -> None:
    qrmatrix._family.cache_clear()


def test_thousands_of_record_addresses_are_segnos_codes() -> None:
    rng = random.Random(15)
    urls = [f"https://clinicaltrials.gov/study/NCT{rng.randrange(10**8):08d}" for _ in range(2000)]
    assert [qr_matrix(url) for url in urls] == [segnos(url) for url in urls]
    assert qrmatrix._family(len(urls[0])).checked is True  # made from deltas, not by segno each time
    assert len(qrmatrix._family(len(urls[0])).deltas) <= 8 * 10


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=60), min_size=1, max_size=8))
def test_any_texts_in_any_order_are_segnos_codes(texts: list[str]) -> None:
    """Texts of one length share a base: those of other lengths, upper case only, digits only or not ASCII (other
    modes, several bytes a character) are segno's too."""
    qrmatrix._family.cache_clear()
    for text in texts:
        assert qr_matrix(text) == segnos(text)


@given(st.lists(st.text(alphabet="abcXYZ019:/.?=&%-", min_size=30, max_size=30), min_size=2, max_size=12))
@settings(max_examples=40, deadline=None)
def test_texts_of_one_length_made_from_deltas_are_segnos_codes(texts: list[str]) -> None:
    qrmatrix._family.cache_clear()
    texts = ["https://x.y/" + text for text in texts]
    assert [qr_matrix(text) for text in texts] == [segnos(text) for text in texts]


def test_a_family_whose_first_code_from_deltas_differs_from_segno_falls_back_to_segno() -> None:
    base, other = "https://clinicaltrials.gov/study/NCT00000001", "https://clinicaltrials.gov/study/NCT00000002"
    qr_matrix(base)
    family = qrmatrix._family(len(base))
    family.deltas[(len(base) - 1, "2")] = 1  # a wrong delta: the run-time check must catch it
    assert qr_matrix(other) == segnos(other)
    assert family.checked is False
    family.deltas.clear()
    assert qr_matrix(other) == segnos(other)  # the family stays with segno
