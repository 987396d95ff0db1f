"""The shipped chromophore spectra (twin/tissue/data/chromophores.csv) against published values,
and the tool that rebuilds them (tools/chromophore_table.py) on small made-up sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import twin
from twin.errors import InputError

TABLE = Path(twin.__file__).resolve().parent / "tissue" / "data" / "chromophores.csv"
COLUMNS = [
    "wavelength_nm",
    "hbo2_per_cm_per_molar",
    "hb_per_cm_per_molar",
    "water_mua_per_mm",
    "fat_mua_per_mm",
]


def read_table(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
    header = lines[0].split(",")
    values = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    return header, dict(zip(header, values.T, strict=True))


@pytest.fixture(scope="module")
def table() -> dict[str, np.ndarray]:
    return read_table(TABLE)[1]


def at(table: dict[str, np.ndarray], column: str, wavelength_nm: float) -> float:
    return float(np.interp(wavelength_nm, table["wavelength_nm"], table[column]))


def test_the_table_parses_on_the_documented_grid():
    header, columns = read_table(TABLE)
    assert header == COLUMNS
    np.testing.assert_array_equal(columns["wavelength_nm"], np.arange(400, 1001, 2))
    for name in COLUMNS[1:]:
        assert np.all(np.isfinite(columns[name])), name
        assert np.all(columns[name] >= 0), name
    assert TABLE.stat().st_size < 30_000
    comments = "\n".join(
        line for line in TABLE.read_text(encoding="utf-8").splitlines() if line.startswith("#")
    )
    for source in ("Prahl", "Pope & Fry 1997", "Segelstein 1981", "van Veen"):
        assert source in comments


@pytest.mark.parametrize(
    ("wavelength_nm", "hbo2", "hb"),
    [
        # Prahl's molar extinction coefficients, cm^-1/M, as docs/physics.md §3.2 quotes them (415
        # and 633 nm lie between his 2 nm rows, so are the mean of the two either side).
        (415, 523_080, 353_222),
        (633, 537, 4_831),
        (660, 320, 3_227),
        (830, 974, 693),
        (850, 1_058, 691),
    ],
)
def test_hemoglobin_is_prahls_at_the_device_wavelengths(table, wavelength_nm, hbo2, hb):
    assert at(table, "hbo2_per_cm_per_molar", wavelength_nm) == pytest.approx(hbo2, rel=0.01)
    assert at(table, "hb_per_cm_per_molar", wavelength_nm) == pytest.approx(hb, rel=0.01)


def test_oxy_and_deoxyhemoglobin_cross_once_near_800_nm(table):
    fine_nm = np.arange(700.0, 900.01, 0.1)
    oxy = np.interp(fine_nm, table["wavelength_nm"], table["hbo2_per_cm_per_molar"])
    deoxy = np.interp(fine_nm, table["wavelength_nm"], table["hb_per_cm_per_molar"])
    crossings = fine_nm[np.flatnonzero(np.diff(np.sign(oxy - deoxy)))]
    assert len(crossings) == 1
    assert 795 <= crossings[0] <= 805
    window = (fine_nm >= 795) & (fine_nm <= 805)
    assert np.min(np.abs(oxy[window] / deoxy[window] - 1)) < 0.02


def test_the_soret_peaks(table):
    wl = table["wavelength_nm"]
    assert 414 <= wl[np.argmax(table["hbo2_per_cm_per_molar"])] <= 416
    assert 428 <= wl[np.argmax(table["hb_per_cm_per_molar"])] <= 436  # deoxy: about 430 nm


@pytest.mark.parametrize(
    ("wavelength_nm", "mua_per_cm"),
    [
        # docs/physics.md §3.2 (Segelstein 1981; listed there in 1/mm)
        (633, 0.0031),
        (830, 0.031),
        (850, 0.044),
        # Hale & Querry 1973, Appl Opt 12:555, as tabulated by OMLC (hale73.dat)
        (600, 0.0023),
        (650, 0.0032),
        (750, 0.026),
        (800, 0.020),
        (900, 0.068),
        (970, 0.45),
    ],
)
def test_water_matches_published_absorption(table, wavelength_nm, mua_per_cm):
    assert at(table, "water_mua_per_mm", wavelength_nm) == pytest.approx(mua_per_cm / 10, rel=0.1)


@pytest.mark.parametrize(
    ("wavelength_nm", "tissue_mua_per_cm"), [(600, 1.89), (700, 1.27), (800, 1.08)]
)
def test_fat_absorbs_less_than_subcutaneous_fat_tissue(table, wavelength_nm, tissue_mua_per_cm):
    # Subcutaneous fat in vitro (Bashkatov, Genina & Tuchin 2011, docs/physics.md §3.3) is mostly
    # lipid, with blood that absorbs far more: the lipid alone absorbs less than the tissue.
    assert at(table, "fat_mua_per_mm", wavelength_nm) < tissue_mua_per_cm / 10


def test_water_and_fat_peak_at_their_overtone_bands(table):
    wl = table["wavelength_nm"]
    nir = wl >= 900
    assert 960 <= wl[nir][np.argmax(table["water_mua_per_mm"][nir])] <= 980  # O-H, 970 nm
    assert 925 <= wl[nir][np.argmax(table["fat_mua_per_mm"][nir])] <= 935  # C-H, 930 nm


@pytest.fixture
def tool(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "tools"))
    import chromophore_table

    return chromophore_table


def write_source(path: Path, heading: str, rows: list[tuple[float, ...]]) -> Path:
    body = "\n".join("\t".join(f"{v:g}" for v in row) for row in rows)
    path.write_text(f"{heading}\n{body}\n", encoding="latin-1")
    return path


@pytest.fixture
def sources(tmp_path):
    """Made-up sources, linear in wavelength so that linear interpolation is exact: HbO2 = wl,
    Hb = 2 wl (cm^-1/M); Segelstein water = wl / 1000 cm^-1; Pope & Fry water 5 cm^-1; fat
    wl - 428 m^-1 from 429 nm."""
    return [
        write_source(tmp_path / "hb.txt", "lambda\tHbO2\tHb\nnm\tcm-1/M\tcm-1/M", [
            (wl, wl, 2 * wl) for wl in range(390, 1011, 10)
        ]),
        write_source(tmp_path / "seg.txt", "lambda\tabsorption\n(nm)\t(1/cm)", [
            (600, 0.6), (1100, 1.1),
        ]),
        write_source(tmp_path / "pope.txt", "Pope \xff Fry\n(nm)\t(1/cm)", [(380, 5), (727.5, 5)]),
        write_source(tmp_path / "fat.txt", "# van Veen\nnm\tmu_a", [(429, 1), (1100, 672)]),
    ]  # fmt: skip


def test_the_tool_interpolates_converts_units_and_splices_water(tool, sources, tmp_path):
    tool.main(*sources, table=tmp_path / "t.csv")
    header, t = read_table(tmp_path / "t.csv")
    assert header == COLUMNS
    wl = np.arange(400, 1001, 2)
    np.testing.assert_array_equal(t["wavelength_nm"], wl)
    np.testing.assert_allclose(t["hbo2_per_cm_per_molar"], wl, rtol=1e-6)
    np.testing.assert_allclose(t["hb_per_cm_per_molar"], 2 * wl, rtol=1e-6)
    water = np.where(wl <= 700, 5 / 10, wl / 1000 / 10)
    np.testing.assert_allclose(t["water_mua_per_mm"], water, rtol=1e-3)
    fat = np.maximum(wl - 428, 1) / 1000
    np.testing.assert_allclose(t["fat_mua_per_mm"], fat, rtol=1e-3)


def test_the_tool_refuses_a_source_short_of_the_range(tool, sources, tmp_path):
    sources[2] = write_source(tmp_path / "short.txt", "nm mua", [(420, 5), (727.5, 5)])
    with pytest.raises(InputError, match=r"short\.txt: expected wavelengths from 400 to 700 nm"):
        tool.main(*sources, table=tmp_path / "t.csv")


def test_the_tool_refuses_a_broken_row(tool, sources, tmp_path):
    sources[0].write_text("nm HbO2 Hb\n400 1 2\n402 1 x\n", encoding="latin-1")
    with pytest.raises(InputError, match=r"hb\.txt: line 3: expected 3 finite numbers >= 0"):
        tool.main(*sources, table=tmp_path / "t.csv")
