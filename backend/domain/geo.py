"""Coordinates: GCJ-02 <-> WGS-84 conversion and geodesic distance on WGS-84.

Phones in China often report GCJ-02 (the obfuscated datum of Chinese map SDKs); sites and
fences are stored in WGS-84, so every fix is converted before measuring.
"""
from __future__ import annotations

import math

from geographiclib.geodesic import Geodesic

from backend.domain.errors import invalid

# Krasovsky 1940 ellipsoid, as used by the published GCJ-02 formulas.
_A = 6378245.0
_EE = 0.00669342162296594323

# The inverse is a fixed-point iteration; it converges in a handful of steps because the
# offset changes by only millimetres over a few hundred metres.
_INVERSE_TOLERANCE_DEG = 1e-9
_INVERSE_MAX_ITERATIONS = 30

COORD_SYSTEMS = frozenset({"wgs84", "gcj02"})


def out_of_china(lat: float, lon: float) -> bool:
    """True outside the rough bounding box where GCJ-02 obfuscation applies."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _offset(lat: float, lon: float) -> tuple[float, float]:
    """GCJ-02 minus WGS-84, in degrees, for a WGS-84 point."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = math.radians(lat)
    magic = 1.0 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return dlat, dlon


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """Obfuscate a WGS-84 point to GCJ-02; points outside China are returned unchanged."""
    if out_of_china(lat, lon):
        return lat, lon
    dlat, dlon = _offset(lat, lon)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """Recover WGS-84 from GCJ-02 by iteration (sub-metre); outside China unchanged."""
    if out_of_china(lat, lon):
        return lat, lon
    # The one-step inverse (subtract the offset at the GCJ point) is off by up to ~1 m,
    # enough to flip a fence decision at the edge, so refine: w <- w + (g - f(w)).
    wlat, wlon = lat, lon
    for _ in range(_INVERSE_MAX_ITERATIONS):
        glat, glon = wgs84_to_gcj02(wlat, wlon)
        step_lat, step_lon = lat - glat, lon - glon
        wlat, wlon = wlat + step_lat, wlon + step_lon
        if abs(step_lat) < _INVERSE_TOLERANCE_DEG and abs(step_lon) < _INVERSE_TOLERANCE_DEG:
            break
    return wlat, wlon


def _check_coordinate(value: object, field: str, limit: float) -> float:
    # bool is an int subclass and NaN fails every comparison; both are rejected explicitly.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid("validation_error", field=field)
    value = float(value)
    if not (-limit <= value <= limit):
        raise invalid("validation_error", field=field)
    return value


def to_wgs84(lat: float, lon: float, coord_sys: str) -> tuple[float, float]:
    """Validate a reported fix and return it in WGS-84."""
    lat = _check_coordinate(lat, "lat", 90.0)
    lon = _check_coordinate(lon, "lon", 180.0)
    if not isinstance(coord_sys, str) or coord_sys not in COORD_SYSTEMS:
        raise invalid("validation_error", field="coord_sys")
    if coord_sys == "gcj02":
        return gcj02_to_wgs84(lat, lon)
    return lat, lon


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance in metres between two WGS-84 points."""
    return Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2)["s12"]
