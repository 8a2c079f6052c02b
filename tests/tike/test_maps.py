"""The shipped map outline: real data, clipped around the region, small, and served."""

from __future__ import annotations

from tike.maps import clip_line, clip_ring, load_outline, region_bbox, simplify
from tike.regions import load_registry

REGION = load_registry().region("etela-pohjanmaa")


def test_the_shipped_outline_is_natural_earth_around_the_region() -> None:
    outline = load_outline(REGION.id)
    assert outline is not None
    assert "Natural Earth" in outline["source"] and "public domain" in outline["licence"]
    assert outline["bbox"] == list(region_bbox(REGION))
    assert set(outline["countries"]) == {"Finland", "Sweden"}  # the Kvarken's two shores
    lo_lon, lo_lat, hi_lon, hi_lat = outline["bbox"]
    points = [p for ring in outline["land"] + outline["coast"] for p in ring]
    assert all(lo_lon <= x <= hi_lon and lo_lat <= y <= hi_lat for x, y in points)
    # The Gulf of Bothnia's coast runs west of the region: Vaasa's shore near 21.5 E, 63.1 N.
    coast = [p for line in outline["coast"] for p in line]
    assert any(21.3 < x < 21.8 and 62.9 < y < 63.3 for x, y in coast)
    # Every municipality centre is on land, none in the sea: a point-in-polygon check.
    for m in REGION.municipalities:
        assert any(_inside((m.lon, m.lat), ring) for ring in outline["land"]), m.name_fi
    assert load_outline("no-such-region") is None


def _inside(p: tuple[float, float], ring: list[list[float]]) -> bool:
    x, y = p
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def test_clipping_and_simplifying() -> None:
    square = [(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)]
    clipped = clip_ring(square, (1.0, 1.0, 2.0, 2.0))
    assert sorted(set(clipped)) == [(1.0, 1.0), (1.0, 2.0), (2.0, 1.0), (2.0, 2.0)]
    assert clip_line([(0.0, 0.5), (1.5, 1.5), (1.8, 1.2), (3.0, 3.0)], (1.0, 1.0, 2.0, 2.0)) == [
        [(1.5, 1.5), (1.8, 1.2)]
    ]
    assert simplify([(0.0, 0.0), (1.0, 0.0001), (2.0, 0.0)], 0.001) == [(0.0, 0.0), (2.0, 0.0)]
