"""IES and EULUMDAT readers: the profiles they give obey the physics, bad files fail clearly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _helpers import raises_naming

from twin.devices.photometry import read_ies, read_ldt, read_profile
from twin.devices.profiles import Lambertian, Tabulated

#: Emission angles (degrees) at which profiles are compared, between and on table nodes.
THETA = np.array([0.0, 2.5, 12.5, 30.0, 47.5, 60.0, 72.5, 85.0, 88.0])


def _lines(values, per_line: int = 10) -> list[str]:
    """Numbers spread over several lines, as real files do."""
    values = [repr(float(v)) for v in values]  # exact round trip
    return [" ".join(values[k : k + per_line]) for k in range(0, len(values), per_line)]


def ies(vertical, horizontal, planes, *, kind: int = 1, tilt: tuple[str, ...] = ()) -> str:
    """An IES LM-63-2002 file; ``planes`` holds one row of candela values per horizontal angle."""
    head = ["IESNA:LM-63-2002", "[TEST] twin synthetic", "[MANUFAC] tests"]
    head += list(tilt or ("TILT=NONE",))
    head.append(f"1 -1 1.0 {len(vertical)} {len(horizontal)} {kind} 2 0.0 0.0 0.0")
    head.append("1.0 1.0 5.0")
    body = _lines(vertical) + _lines(horizontal)
    for row in planes:
        body += _lines(row)
    return "\n".join(head + body) + "\n"


def ldt(isym: int, c_angles, gamma, planes, *, decimal_comma: bool = False) -> str:
    """A EULUMDAT file with one lamp set; ``planes`` holds the stored C-planes' intensities."""

    def num(v: float) -> str:
        text = repr(float(v))
        return text.replace(".", ",") if decimal_comma else text

    lines = ["twin tests", "1", str(isym), str(len(c_angles)), "0", str(len(gamma)), "0"]
    lines += ["report 1", "synthetic LED", "LED-1", "led.ldt", "2024-01-01 tests"]
    lines += ["5", "5", "2", "3", "3", "0", "0", "0", "0"]  # lines 13-21: dimensions, mm
    lines += ["100", "100", "1", "0"]  # lines 22-25: DFF, LORL, conversion factor, tilt
    lines += ["1", "1", "LED", "1000", "3000", "80", "1"]  # line 26 n = 1, then the lamp set
    lines += ["0.5"] * 10  # direct ratios
    lines += [num(c) for c in c_angles] + [num(g) for g in gamma]
    lines += [num(v) for row in planes for v in row]
    return "\r\n".join(lines) + "\r\n"


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="latin-1")
    return path


def intensity(profile, theta_deg) -> np.ndarray:
    return profile.intensity_per_mw(np.cos(np.radians(np.asarray(theta_deg, dtype=float))))


def cos_power(theta_deg, m: float) -> np.ndarray:
    return np.clip(np.cos(np.radians(theta_deg)), 0.0, None) ** m


def emitted_flux_mw(profile) -> float:
    """2 pi * integral over [0, pi] of I(theta) sin(theta) d theta, midpoint rule (mW per mW)."""
    n = 200_000
    theta = (np.arange(n) + 0.5) * math.pi / n
    step = math.pi / n
    return (
        2.0
        * math.pi
        * step
        * float(np.sum(profile.intensity_per_mw(np.cos(theta)) * np.sin(theta)))
    )


# --- physics ---------------------------------------------------------------------------------


def test_ies_cosine_table_is_the_ideal_lambertian(tmp_path):
    vertical = np.arange(0.0, 91.0, 5.0)
    path = write(tmp_path, "cos.ies", ies(vertical, [0.0], [250.0 * cos_power(vertical, 1.0)]))
    profile = read_ies(path)
    # Linear interpolation of cos between 5-degree nodes is low by at most h^2/8 = 9.5e-4 of
    # the local value (h = 5 degrees in radians), and renormalising the interpolated table
    # raises every value by its flux deficit, 6.4e-4: the worst relative error is 6.4e-4.
    np.testing.assert_allclose(
        intensity(profile, THETA),
        Lambertian(60.0).intensity_per_mw(np.cos(np.radians(THETA))),
        rtol=1e-3,
    )
    assert np.all(intensity(profile, [95.0, 135.0, 180.0]) == 0.0)  # forward hemisphere only


def test_ies_cos_m_table_matches_lambertian_30(tmp_path):
    reference = Lambertian(30.0)  # m = 4.82
    vertical = np.arange(0.0, 91.0, 1.0)
    planes = [1e4 * cos_power(vertical, reference.m)]
    profile = read_ies(write(tmp_path, "narrow.ies", ies(vertical, [0.0], planes)))
    want = reference.intensity_per_mw(np.cos(np.radians(THETA)))
    # Interpolating cos^m at 1-degree nodes errs by at most h^2/8 * max|I''| = 3.8e-5 * m of
    # the peak (the curvature is largest on the axis) plus the flux renormalisation: 3.1e-4 of
    # the peak in all, measured; 1e-3 of the peak leaves margin.
    np.testing.assert_allclose(intensity(profile, THETA), want, rtol=0, atol=1e-3 * want[0])


def _mixed_planes(vertical, scales, exponents) -> list[np.ndarray]:
    return [s * cos_power(vertical, m) for s, m in zip(scales, exponents, strict=True)]


@pytest.mark.parametrize(
    "horizontal", [[0.0, 90.0, 180.0, 270.0, 360.0], [0.0, 90.0, 180.0, 270.0]]
)
def test_ies_full_circle_averages_the_planes(tmp_path, horizontal):
    vertical = np.arange(0.0, 181.0, 5.0)
    distinct = _mixed_planes(vertical, [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 4.0, 8.0])
    planes = distinct + distinct[:1] if len(horizontal) == 5 else distinct  # 360 is plane 0
    profile = read_ies(write(tmp_path, "circle.ies", ies(vertical, horizontal, planes)))
    mean = Tabulated(tuple(vertical), tuple(np.mean(distinct, axis=0)))
    np.testing.assert_allclose(intensity(profile, vertical), intensity(mean, vertical), rtol=1e-12)


def test_ies_quadrant_equals_its_unfolded_circle(tmp_path):
    vertical = np.arange(0.0, 91.0, 5.0)
    a, b, c = _mixed_planes(vertical, [1.0, 5.0, 2.0], [1.0, 3.0, 6.0])
    quadrant = read_ies(write(tmp_path, "q.ies", ies(vertical, [0.0, 45.0, 90.0], [a, b, c])))
    # Mirrored about the 0-180 and 90-270 planes the quadrant fills the circle: 0, 45, .., 360.
    unfolded = [a, b, c, b, a, b, c, b, a]
    circle = read_ies(write(tmp_path, "c.ies", ies(vertical, np.arange(0, 361, 45.0), unfolded)))
    np.testing.assert_allclose(intensity(quadrant, THETA), intensity(circle, THETA), rtol=1e-12)
    # The planes weigh by their azimuthal spacing: 45 degrees at 45, 22.5 at each edge.
    weighted = Tabulated(tuple(vertical), tuple(a / 4 + b / 2 + c / 4))
    np.testing.assert_allclose(intensity(quadrant, THETA), intensity(weighted, THETA), rtol=1e-12)


def test_ldt_rotationally_symmetric_cosine_is_the_ideal_lambertian(tmp_path):
    gamma = np.arange(0.0, 181.0, 5.0)
    text = ldt(1, np.arange(0.0, 360.0, 30.0), gamma, [318.3 * cos_power(gamma, 1.0)])
    profile = read_ldt(write(tmp_path, "cos.ldt", text))
    # Same table as the IES cosine test: the worst relative error is 6.4e-4.
    np.testing.assert_allclose(
        intensity(profile, THETA),
        Lambertian(60.0).intensity_per_mw(np.cos(np.radians(THETA))),
        rtol=1e-3,
    )


def test_ldt_decimal_commas_read_like_points(tmp_path):
    gamma = np.arange(0.0, 181.0, 7.5)
    planes = [100.0 * cos_power(gamma, 2.5) + 0.25]
    c_angles = [0.0]
    points = read_ldt(write(tmp_path, "p.ldt", ldt(1, c_angles, gamma, planes)))
    commas = read_ldt(
        write(tmp_path, "c.ldt", ldt(1, c_angles, gamma, planes, decimal_comma=True))
    )
    assert commas.angles_deg == points.angles_deg
    assert commas.intensity == points.intensity


def test_ldt_isym4_stores_a_quarter_of_the_planes_plus_one(tmp_path):
    gamma = np.arange(0.0, 181.0, 5.0)
    c0, c90 = _mixed_planes(gamma, [1.0, 3.0], [1.0, 5.0])
    c_angles = [0.0, 90.0, 180.0, 270.0]  # Mc = 4: Isym 4 stores Mc/4 + 1 = 2 planes
    both = read_ldt(write(tmp_path, "isym4.ldt", ldt(4, c_angles, gamma, [c0, c90])))
    full = read_ldt(write(tmp_path, "isym0.ldt", ldt(0, c_angles, gamma, [c0, c90, c0, c90])))
    np.testing.assert_allclose(intensity(both, THETA), intensity(full, THETA), rtol=1e-12)
    mean = Tabulated(tuple(gamma), tuple((c0 + c90) / 2))
    np.testing.assert_allclose(intensity(both, THETA), intensity(mean, THETA), rtol=1e-12)


def test_profiles_emit_one_milliwatt(tmp_path):
    angles = np.arange(0.0, 181.0, 10.0)
    lobe = 500.0 * cos_power(angles, 3.0) + 20.0 * cos_power(180.0 - angles, 1.0)  # some back
    hemi = np.arange(0.0, 91.0, 15.0)
    profiles = [
        read_ies(write(tmp_path, "a.ies", ies(angles, [0.0, 90.0], [lobe, 2 * lobe + 1]))),
        read_ies(write(tmp_path, "b.ies", ies(hemi, [0.0], [cos_power(hemi, 0.5)]))),
        read_ldt(
            write(tmp_path, "c.ldt", ldt(2, [0, 60, 120, 180, 240, 300], angles, [lobe] * 4))
        ),
    ]
    for profile in profiles:
        assert emitted_flux_mw(profile) == pytest.approx(1.0, abs=1e-6)


def test_tilt_include_is_skipped(tmp_path):
    vertical = np.arange(0.0, 91.0, 10.0)
    planes = [1.0 + cos_power(vertical, 2.0)]
    tilt = (
        "TILT=INCLUDE",
        "1",
        "7",
        "0 15 30 45",
        "60 75 90",
        "1.0 0.95 0.94 0.90 0.88 0.87 0.98",
    )
    tilted = read_ies(write(tmp_path, "t.ies", ies(vertical, [0.0], planes, tilt=tilt)))
    plain = read_ies(write(tmp_path, "n.ies", ies(vertical, [0.0], planes)))
    assert tilted.angles_deg == plain.angles_deg
    assert tilted.intensity == plain.intensity


def test_read_profile_dispatches_by_suffix(tmp_path):
    gamma = np.arange(0.0, 91.0, 10.0)
    table = cos_power(gamma, 1.5)
    ies_path = write(tmp_path, "led.IES", ies(gamma, [0.0], [table]))
    ldt_path = write(tmp_path, "led.Ldt", ldt(1, [0.0], gamma, [table]))
    csv_path = write(tmp_path, "led.csv", "angle_deg,intensity\n0,1\n90,0\n")
    assert read_profile(ies_path) == read_ies(ies_path)
    assert read_profile(ldt_path) == read_ldt(ldt_path)
    assert read_profile(csv_path) == Tabulated.from_csv(csv_path)


# --- bad files -------------------------------------------------------------------------------


def fails(call, path, *parts: str) -> None:
    """Assert that ``call(path)`` fails naming the file and ``parts``, in order."""
    with raises_naming(*parts, at=path):
        call(path)


V = np.arange(0.0, 91.0, 5.0)  # 19 vertical angles


def test_unsupported_photometric_type(tmp_path):
    path = write(tmp_path, "b.ies", ies(V, [0.0], [cos_power(V, 1.0)], kind=2))
    fails(
        read_ies,
        path,
        "photometric type 2 (type B)",
        "not supported",
        "type 1 (type C)",
    )


def test_too_few_candela_values(tmp_path):
    planes = [cos_power(V, 1.0), cos_power(V, 2.0)[:11]]
    path = write(tmp_path, "short.ies", ies(V, [0.0, 180.0], planes))
    fails(
        read_ies,
        path,
        "38 candela values",
        "2 horizontal planes x 19 vertical angles",
        "30",
    )


def test_non_numeric_token(tmp_path):
    lines = ies(V, [0.0], [cos_power(V, 1.0)]).splitlines()
    # A typo in the first of the last candela values; commas separate numbers too.
    lines[-1] = "0.99x," + lines[-1].split(" ", 1)[1]
    path = write(tmp_path, "x.ies", "\n".join(lines) + "\n")
    line = len(lines)
    fails(read_ies, path, f"line {line} (candela values)", "a number", "'0.99x'")


def test_upward_only_luminaire(tmp_path):
    vertical = np.arange(90.0, 181.0, 5.0)
    path = write(tmp_path, "up.ies", ies(vertical, [0.0], [np.ones(vertical.size)]))
    fails(
        read_ies,
        path,
        "vertical angles 90..180",
        "upward-only",
        "starting at 0",
    )


def test_ldt_non_whole_number_of_c_planes(tmp_path):
    gamma = np.arange(0.0, 181.0, 45.0)
    lines = ldt(1, [0.0], gamma, [np.ones(5)]).split("\r\n")
    lines[3] = "x"
    path = write(tmp_path, "mc.ldt", "\r\n".join(lines))
    fails(
        read_ldt,
        path,
        "line 4 (number of C-planes Mc)",
        "a whole number >= 1",
        "'x'",
    )


def test_unknown_suffix(tmp_path):
    path = write(tmp_path, "led.txt", "0 1\n")
    fails(
        read_profile,
        path,
        "suffix '.txt'",
        ".ies",
        ".ldt",
        ".csv",
    )


@pytest.mark.parametrize(("name", "kind"), [("none.ies", "IES"), ("none.ldt", "EULUMDAT")])
def test_missing_file(tmp_path, name, kind):
    fails(
        read_profile,
        tmp_path / name,
        f"cannot read {kind} file",
        "No such file or directory",
    )
