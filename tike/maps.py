"""Map outlines of a region: land and coastline from Natural Earth, shipped with Tike.

The board draws the land, the coastline and national borders around a region from a small
file per region, ``tike/data/maps/<region>.json``, so the map reads as a map without any
request leaving the machine. The files are cut once from Natural Earth's 1:10m admin-0
countries (public domain) as redistributed in TopoJSON by the npm package ``world-atlas``
2.0.2 (ISC licence), with this module's :func:`main`::

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python -m tike.maps package/countries-10m.json etela-pohjanmaa

Only what the data holds is drawn: national borders and coastline. Natural Earth has no
Finnish municipal borders, so none are drawn (never invented); municipalities show as
markers at their centres.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from typing import Any

from tike.regions import Region, load_registry

Point = tuple[float, float]  # (lon, lat)
Ring = list[Point]
BBox = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat

SOURCE = (
    "Natural Earth 1:10m admin-0 countries v4.1.0 (naturalearthdata.com), via the npm "
    "package world-atlas 2.0.2 (countries-10m.json)"
)
LICENCE = "Natural Earth: public domain; world-atlas: ISC licence"
#: Degrees around the region's municipalities that the outline covers.
MARGIN_LON, MARGIN_LAT = 1.6, 0.8
#: Douglas-Peucker tolerance in degrees (about 150 m north-south).
TOLERANCE = 0.0015


def region_bbox(region: Region) -> BBox:
    lons = [m.lon for m in region.municipalities]
    lats = [m.lat for m in region.municipalities]
    return (
        round(min(lons) - MARGIN_LON, 2),
        round(min(lats) - MARGIN_LAT, 2),
        round(max(lons) + MARGIN_LON, 2),
        round(max(lats) + MARGIN_LAT, 2),
    )


def _decode_arcs(topology: dict[str, Any]) -> list[Ring]:
    """TopoJSON arcs in degrees (delta-decoded, transformed)."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def _arc(arcs: list[Ring], index: int) -> Ring:
    return arcs[index] if index >= 0 else arcs[~index][::-1]


def _ring(arcs: list[Ring], indices: Sequence[int]) -> Ring:
    out: Ring = []
    for i in indices:
        points = _arc(arcs, i)
        out.extend(points if not out else points[1:])
    return out


def _polygons(geometry: dict[str, Any]) -> list[list[list[int]]]:
    if geometry.get("type") == "Polygon":
        return [geometry["arcs"]]
    if geometry.get("type") == "MultiPolygon":
        return list(geometry["arcs"])
    return []


def _inside(p: Point, edge: int, bbox: BBox) -> bool:
    x, y = p
    return (x >= bbox[0], y >= bbox[1], x <= bbox[2], y <= bbox[3])[edge]


def _cross(a: Point, b: Point, edge: int, bbox: BBox) -> Point:
    (x1, y1), (x2, y2) = a, b
    if edge in (0, 2):
        x = bbox[edge]
        return (x, y1 + (y2 - y1) * (x - x1) / (x2 - x1))
    y = bbox[edge]
    return (x1 + (x2 - x1) * (y - y1) / (y2 - y1), y)


def clip_ring(ring: Ring, bbox: BBox) -> Ring:
    """Sutherland-Hodgman: the part of a polygon ring inside the box (for filling)."""
    out = list(ring)
    for edge in range(4):
        if not out:
            break
        points, out = out, []
        for i, cur in enumerate(points):
            prev = points[i - 1]
            if _inside(cur, edge, bbox):
                if not _inside(prev, edge, bbox):
                    out.append(_cross(prev, cur, edge, bbox))
                out.append(cur)
            elif _inside(prev, edge, bbox):
                out.append(_cross(prev, cur, edge, bbox))
    return out


def clip_line(line: Ring, bbox: BBox) -> list[Ring]:
    """The pieces of a polyline inside the box (for stroking: no edges along the box)."""

    def inside(p: Point) -> bool:
        return bbox[0] <= p[0] <= bbox[2] and bbox[1] <= p[1] <= bbox[3]

    pieces: list[Ring] = []
    current: Ring = []
    for p in line:
        if inside(p):
            current.append(p)
        elif current:
            pieces.append(current)
            current = []
    if current:
        pieces.append(current)
    return [piece for piece in pieces if len(piece) > 1]


def simplify(points: Ring, tolerance: float) -> Ring:
    """Douglas-Peucker, iterative; keeps the end points."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        (x1, y1), (x2, y2) = points[a], points[b]
        dx, dy = x2 - x1, y2 - y1
        norm = (dx * dx + dy * dy) ** 0.5
        best, worst = -1.0, -1
        for i in range(a + 1, b):
            x, y = points[i]
            if norm == 0:
                d = ((x - x1) ** 2 + (y - y1) ** 2) ** 0.5
            else:
                d = abs(dy * x - dx * y + x2 * y1 - y2 * x1) / norm
            if d > best:
                best, worst = d, i
        if best > tolerance:
            keep[worst] = True
            stack += [(a, worst), (worst, b)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def _rounded(points: Ring) -> list[list[float]]:
    return [[round(x, 4), round(y, 4)] for x, y in points]


def extract(topology: dict[str, Any], bbox: BBox, tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Land polygons, coastline and national borders of a world-atlas topology in ``bbox``."""
    arcs = _decode_arcs(topology)
    countries = topology["objects"]["countries"]["geometries"]
    uses: Counter[int] = Counter()
    for country in countries:
        for polygon in _polygons(country):
            for ring in polygon:
                for i in ring:
                    uses[i if i >= 0 else ~i] += 1
    land: list[list[list[float]]] = []
    names = []
    for country in countries:
        for polygon in _polygons(country):
            for ring_arcs in polygon:
                clipped = clip_ring(simplify(_ring(arcs, ring_arcs), tolerance), bbox)
                if len(clipped) >= 3:
                    land.append(_rounded(clipped))
                    names.append(country.get("properties", {}).get("name"))
    coast: list[list[list[float]]] = []
    borders: list[list[list[float]]] = []
    for index, count in sorted(uses.items()):
        for piece in clip_line(arcs[index], bbox):
            line = _rounded(simplify(piece, tolerance))
            # An arc of one country only is its coast; one shared by two is a land border.
            (coast if count == 1 else borders).append(line)
    return {
        "source": SOURCE,
        "licence": LICENCE,
        "bbox": list(bbox),
        "countries": sorted({n for n in names if n}),
        "land": land,
        "coast": coast,
        "borders": borders,
    }


def load_outline(region_id: str) -> dict[str, Any] | None:
    """The shipped outline of a region, or None when there is none."""
    item = resources.files("tike.data").joinpath("maps", f"{region_id}.json")
    if not item.is_file():
        return None
    data: dict[str, Any] = json.loads(item.read_text("utf-8"))
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m tike.maps COUNTRIES_10M_JSON REGION_ID", file=sys.stderr)
        return 2
    path, region_id = args
    with open(path, encoding="utf-8") as f:
        topology = json.load(f)
    region = load_registry().region(region_id)
    outline = extract(topology, region_bbox(region))
    target = resources.files("tike.data").joinpath("maps", f"{region_id}.json")
    text = json.dumps(outline, ensure_ascii=False, separators=(",", ":")) + "\n"
    with open(str(target), "w", encoding="utf-8") as f:
        f.write(text)
    print(
        f"wrote {target} ({len(text)} bytes; {len(outline['land'])} land polygons, "
        f"{len(outline['coast'])} coast lines, {len(outline['borders'])} borders)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
