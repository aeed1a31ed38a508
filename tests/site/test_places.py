"""The offline gazetteer: city centres for sites without coordinates, and the page's places.js."""

from __future__ import annotations

import json

import pytest

from trialfinder.site import places


@pytest.mark.parametrize(("city", "country", "near"), [
    ("Paris", "France", (48.85, 2.35)),
    ("  zurich ", "Switzerland", (47.37, 8.55)),  # folded: case, spaces and accents
    ("Zürich", "Switzerland", (47.37, 8.55)),
    ("Seoul", "Korea, Republic of", (37.57, 126.98)),  # ClinicalTrials.gov's name for the country
    ("Munich", "Germany", (48.14, 11.58)),  # an alternate name of München
    ("Paris", "United States", (33.66, -95.56)),  # the country decides (Paris, Texas is the biggest US Paris)
])  # fmt: skip
def test_city_centre(city: str, country: str, near: tuple[float, float]) -> None:
    centre = places.city_centre(city, country)
    assert centre is not None
    assert abs(centre[0] - near[0]) < 0.05 and abs(centre[1] - near[1]) < 0.05


@pytest.mark.parametrize(("city", "country"), [("Qqxville", "France"), ("Paris", "Atlantis"), (None, "France"),
                                               ("Paris", None), ("", "")])  # fmt: skip
def test_unknown_places_have_no_centre(city: str | None, country: str | None) -> None:
    assert places.city_centre(city, country) is None


def test_places_js_is_a_compact_city_list_biggest_first() -> None:
    text = places.places_js()
    prefix = "window.trialfinderPlaces = "
    data = json.loads(text[text.index(prefix) + len(prefix):].rstrip().rstrip(";"))
    lines = [line.split("\t") for line in data["cities"].split("\n")]
    assert len(lines) > 20000 and all(len(line) == 4 for line in lines)
    first_paris = next(line for line in lines if line[0] == "Paris")
    assert first_paris[1] == "FR" and data["countries"]["FR"] == "France"
    assert len(text.encode()) < 1_200_000  # about 1 MB, loaded only when the place box is used
