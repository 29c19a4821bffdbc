"""GCJ-02 conversion, China box, validation and geodesic distance."""
import math

import pytest

from backend.domain.errors import AppError
from backend.domain.geo import distance_m, gcj02_to_wgs84, out_of_china, to_wgs84, wgs84_to_gcj02

CITIES = {
    "beijing": (39.9042, 116.4074),
    "fuzhou": (26.0745, 119.2965),
    "urumqi": (43.8256, 87.6168),
    "harbin": (45.8038, 126.5350),
    "sanya": (18.2528, 109.5119),
    "lhasa": (29.6500, 91.1000),
    "shanghai": (31.2304, 121.4737),
}


@pytest.mark.parametrize("lat, lon, expected", [
    (26.0745, 119.2965, False),          # Fuzhou
    (0.8293, 72.004, False),             # south-west corner, inclusive
    (55.8271, 137.8347, False),          # north-east corner, inclusive
    (0.8292, 100.0, True),               # just south of the box
    (55.8272, 100.0, True),              # just north
    (30.0, 72.0039, True),               # just west
    (30.0, 137.8348, True),              # just east
    (51.5074, -0.1278, True),            # London
])
def test_out_of_china(lat, lon, expected):
    assert out_of_china(lat, lon) is expected


@pytest.mark.parametrize("name", sorted(CITIES))
def test_round_trip_under_one_metre(name):
    lat, lon = CITIES[name]
    glat, glon = wgs84_to_gcj02(lat, lon)
    assert distance_m(lat, lon, glat, glon) > 50  # the obfuscation really moved the point
    wlat, wlon = gcj02_to_wgs84(glat, glon)
    assert distance_m(lat, lon, wlat, wlon) < 1.0


@pytest.mark.parametrize("name", sorted(CITIES))
def test_gcj_point_of_site_converts_back_onto_site(name):
    lat, lon = CITIES[name]
    glat, glon = wgs84_to_gcj02(lat, lon)
    assert distance_m(lat, lon, *to_wgs84(glat, glon, "gcj02")) < 1.0


def test_fuzhou_offset_is_a_few_hundred_metres():
    lat, lon = CITIES["fuzhou"]
    offset = distance_m(lat, lon, *wgs84_to_gcj02(lat, lon))
    assert 100 < offset < 700


@pytest.mark.parametrize("lat, lon", [(51.5074, -0.1278), (-33.8688, 151.2093), (0.0, 0.0)])
def test_outside_china_unchanged(lat, lon):
    assert wgs84_to_gcj02(lat, lon) == (lat, lon)
    assert gcj02_to_wgs84(lat, lon) == (lat, lon)
    assert to_wgs84(lat, lon, "gcj02") == (lat, lon)


def test_wgs84_passes_through():
    assert to_wgs84(26.0745, 119.2965, "wgs84") == (26.0745, 119.2965)


@pytest.mark.parametrize("lat, lon", [(90, 180), (-90, -180), (90.0, 0.0), (0, -180.0)])
def test_coordinate_edges_accepted(lat, lon):
    assert to_wgs84(lat, lon, "wgs84") == (float(lat), float(lon))


@pytest.mark.parametrize("lat, lon, coord_sys, field", [
    (90.000001, 0.0, "wgs84", "lat"),
    (-90.000001, 0.0, "wgs84", "lat"),
    (0.0, 180.000001, "wgs84", "lon"),
    (0.0, -180.000001, "wgs84", "lon"),
    (math.nan, 0.0, "wgs84", "lat"),
    (0.0, math.inf, "wgs84", "lon"),
    ("26.0", 119.0, "wgs84", "lat"),
    (True, 119.0, "wgs84", "lat"),
    (26.0, None, "wgs84", "lon"),
    (26.0, 119.0, "bd09", "coord_sys"),
    (26.0, 119.0, "WGS84", "coord_sys"),
    (26.0, 119.0, None, "coord_sys"),
    (26.0, 119.0, ["wgs84"], "coord_sys"),
])
def test_to_wgs84_validation(lat, lon, coord_sys, field):
    with pytest.raises(AppError) as exc:
        to_wgs84(lat, lon, coord_sys)
    assert exc.value.code == "validation_error"
    assert exc.value.status == 422
    assert exc.value.details == {"field": field}


@pytest.mark.parametrize("lat1, lon1, lat2, lon2, expected, tol", [
    (26.0745, 119.2965, 26.0745, 119.2965, 0.0, 1e-9),
    (0.0, 0.0, 0.0, 1.0, 111319.49, 0.01),    # one degree of longitude on the WGS-84 equator
    (0.0, 0.0, 1.0, 0.0, 110574.39, 0.01),    # one degree of latitude at the equator
])
def test_distance_m(lat1, lon1, lat2, lon2, expected, tol):
    assert distance_m(lat1, lon1, lat2, lon2) == pytest.approx(expected, abs=tol)
