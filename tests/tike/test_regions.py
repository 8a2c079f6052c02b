from pathlib import Path

import pytest

from tike.regions import RegionDataError, build_registry, distance_km, load_registry


def test_shipped_region_has_its_18_municipalities() -> None:
    reg = load_registry()
    region = reg.region("etela-pohjanmaa")
    assert len(region.municipalities) == 18
    assert reg.municipality("743").name_fi == "Seinäjoki"  # type: ignore[union-attr]
    assert reg.municipality("218").name_sv == "Bötom"  # type: ignore[union-attr]
    assert 185_000 < region.population < 200_000


def test_a_county_is_added_as_data(tmp_path: Path) -> None:
    (tmp_path / "keski-suomi.yaml").write_text(
        "id: keski-suomi\nname: {fi: Keski-Suomi}\nmunicipalities:\n"
        '  - {code: "179", fi: Jyväskylä, population: 148000, lat: 62.24, lon: 25.75}\n',
        encoding="utf-8",
    )
    load_registry.cache_clear()
    reg = load_registry(tmp_path)
    assert reg.municipality("179").region == "keski-suomi"  # type: ignore[union-attr]
    assert reg.municipality("743").region == "etela-pohjanmaa"  # type: ignore[union-attr]


def test_a_municipality_in_two_regions_is_refused() -> None:
    text = (
        "id: {id}\nname: {{fi: x}}\nmunicipalities:\n"
        '  - {{code: "743", fi: S, population: 1, lat: 1, lon: 1}}\n'
    )
    with pytest.raises(RegionDataError, match="743"):
        build_registry([("a", text.format(id="a")), ("b", text.format(id="b"))])


def test_malformed_region_names_its_file() -> None:
    with pytest.raises(RegionDataError, match=r"bad\.yaml"):
        build_registry([("bad.yaml", "id: x\nmunicipalities: [{code: 1}]\n")])


def test_distance_seinajoki_to_kauhajoki() -> None:
    d = distance_km(62.79, 22.84, 62.43, 22.18)
    assert 50 < d < 55
