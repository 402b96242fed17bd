"""Registering a scene checks the band map against the file's own band descriptions.

Sentinel-2 files describe their bands B01..B12, B8A: red must be B04, green B03,
blue B02, nir B08 or B8A; a band described as the role itself ("red", "NIR")
passes too. A mismatch is refused with each wrong band named, unless the check
is turned off; files without descriptions register as before. On tiny GeoTIFFs
written here and on a real Slovenian scene of ../shared/data.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from remote_sensing import BandError, SceneCatalogue
from remote_sensing.catalogue import ROLE_BANDS, check_band_descriptions

S2_BANDS: list[str | None] = [
    *("B01", "B02", "B03", "B04", "B05", "B06", "B07"),
    *("B08", "B8A", "B09", "B10", "B11", "B12"),
]
SLOVENIA = "sentinel2/slovenia/S2_L1C_2015-08-30.tif"
DAY = date(2015, 8, 30)


def write_described(path: Path, descriptions: list[str | None]) -> Path:
    """A 20 x 20 px uint16 GeoTIFF in UTM 33N whose bands carry ``descriptions``."""
    count = len(descriptions)
    data = np.arange(count * 400, dtype=np.uint16).reshape(count, 20, 20)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=20,
        height=20,
        count=count,
        dtype="uint16",
        crs="EPSG:32633",
        transform=from_origin(500_000.0, 5_000_000.0, 10, 10),
    ) as dst:
        dst.write(data)
        for i, text in enumerate(descriptions, start=1):
            if text is not None:
                dst.set_band_description(i, text)
    return path


@pytest.fixture
def catalogue(tmp_path: Path) -> SceneCatalogue:
    return SceneCatalogue(tmp_path / "imagery")


def test_the_roles_are_sentinel2s_bands() -> None:
    assert dict(ROLE_BANDS) == {
        "red": ("B04",),
        "green": ("B03",),
        "blue": ("B02",),
        "nir": ("B08", "B8A"),
    }


@pytest.mark.parametrize(
    ("descriptions", "bands"),
    [
        (S2_BANDS, {"red": 4, "green": 3, "blue": 2, "nir": 8}),
        (S2_BANDS, {"nir": 9}),  # B8A, the narrow NIR band
        (
            ["B2", "b3", "B4 (665 nm)", "B8"],
            {"red": 3, "green": 2, "blue": 1, "nir": 4},
        ),
        (["Red", "nir", "Near-Infrared"], {"red": 1, "nir": 2}),
        (["red", "NIR"], {"red": 1, "nir": 2}),
        (["red (665 nm)", "NIR band"], {"red": 1, "nir": 2}),
        ([None, None], {"red": 1, "nir": 2}),  # no descriptions: as before
        (["", "  "], {"red": 1, "nir": 2}),
        (["2015-07-11", "Band 2"], {"red": 1, "nir": 2}),  # nothing we can read
        (["B04"], {"red": 1, "nir": 5}),  # a band past the file: the caller's check
    ],
)
def test_descriptions_that_agree_or_say_nothing_pass(
    descriptions: list[str | None], bands: dict[str, int]
) -> None:
    check_band_descriptions(descriptions, bands)


@pytest.mark.parametrize(
    ("descriptions", "bands", "message"),
    [
        (
            S2_BANDS,
            {"red": 1, "green": 2, "blue": 3, "nir": 4},
            "band 1 is described B01, not red (B04); band 2 is described B02, not "
            "green (B03); band 3 is described B03, not blue (B02); band 4 is "
            "described B04, not nir (B08 or B8A): the descriptions give "
            "red=4,green=3,blue=2,nir=8",
        ),
        (
            S2_BANDS,
            {"red": 4, "nir": 5},
            "band 5 is described B05, not nir (B08 or B8A): the descriptions give "
            "red=4,nir=8",
        ),
        (
            ["nir", "red"],
            {"red": 1, "nir": 2},
            "band 1 is described nir, not red (B04); band 2 is described red, not "
            "nir (B08 or B8A): the descriptions give red=2,nir=1",
        ),
        (
            ["B01", "B05"],
            {"red": 1},
            "band 1 is described B01, not red (B04)",  # no band is red: no hint
        ),
        (
            ["B8A", "B08"],
            {"red": 1},
            "band 1 is described B8A, not red (B04)",
        ),
    ],
)
def test_a_band_described_as_another_is_refused_by_name(
    descriptions: list[str | None], bands: dict[str, int], message: str
) -> None:
    with pytest.raises(BandError) as err:
        check_band_descriptions(descriptions, bands)
    assert str(err.value) == message


def test_the_hint_prefers_b08_to_b8a_for_nir() -> None:
    with pytest.raises(BandError, match=r"give nir=2$"):
        check_band_descriptions(["B8A", "B08", "B04"], {"nir": 3})


def test_registration_refuses_a_described_mismatch_and_leaves_nothing(
    tmp_path: Path, catalogue: SceneCatalogue
) -> None:
    """The file's name and each wrong band named; no COG, no catalogue entry."""
    source = write_described(tmp_path / "s2.tif", ["B02", "B03", "B04", "B08"])
    with pytest.raises(BandError) as err:
        catalogue.register(
            source, "s2", DAY, {"red": 1, "green": 2, "blue": 3, "nir": 4}
        )
    assert str(err.value) == (
        "s2.tif: band 1 is described B02, not red (B04); band 3 is described B04, "
        "not blue (B02): the descriptions give red=3,green=2,blue=1,nir=4"
    )
    assert catalogue.scenes() == []
    assert not (catalogue.folder / "s2.tif").exists()
    assert [p.name for p in catalogue.folder.iterdir()] == [".catalogue.lock"]


def test_registration_by_the_descriptions_or_with_the_check_off_succeeds(
    tmp_path: Path, catalogue: SceneCatalogue
) -> None:
    source = write_described(tmp_path / "s2.tif", ["B02", "B03", "B04", "B08"])
    right = catalogue.register(
        source, "right", DAY, {"red": 3, "green": 2, "blue": 1, "nir": 4}
    )
    assert dict(right.source_bands) == {"red": 3, "green": 2, "blue": 1, "nir": 4}
    forced = catalogue.register(
        source,
        "forced",
        DAY,
        {"red": 1, "green": 2, "blue": 3, "nir": 4},
        check_descriptions=False,
    )
    assert dict(forced.source_bands) == {"red": 1, "green": 2, "blue": 3, "nir": 4}
    with rasterio.open(catalogue.path(forced)) as cog:
        assert cog.count == 4


def test_a_file_without_descriptions_registers_as_before(
    tmp_path: Path, catalogue: SceneCatalogue
) -> None:
    source = write_described(tmp_path / "plain.tif", [None, None, None, None])
    scene = catalogue.register(source, "plain", DAY, {"red": 4, "nir": 1})
    assert dict(scene.bands) == {"red": 1, "nir": 2}


def test_the_real_slovenian_scene_refuses_red_1_and_takes_its_own_bands(
    shared_data: Path, catalogue: SceneCatalogue
) -> None:
    """13 bands described B01..B12, B8A: the demo's red=4,green=3,blue=2,nir=8 passes."""
    source = shared_data / SLOVENIA
    with rasterio.open(source) as src:
        assert src.descriptions == tuple(S2_BANDS)
    with pytest.raises(BandError) as err:
        catalogue.register(
            source, "wrong", DAY, {"red": 1, "green": 2, "blue": 3, "nir": 4}
        )
    assert str(err.value).startswith(
        "S2_L1C_2015-08-30.tif: band 1 is described B01, not red (B04); "
    )
    assert str(err.value).endswith("the descriptions give red=4,green=3,blue=2,nir=8")
    scene = catalogue.register(
        source, "slovenia", DAY, {"red": 4, "green": 3, "blue": 2, "nir": 8}
    )
    assert dict(scene.source_bands) == {"red": 4, "green": 3, "blue": 2, "nir": 8}
    assert [s.name for s in catalogue.scenes()] == ["slovenia"]
