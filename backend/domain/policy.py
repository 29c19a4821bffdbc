"""Policies: every rule number as versioned data per region (shared/DESIGN.md "Policy per region").

A policy version belongs to a region code ("" national, "35" a province, "3501" a city, "350102" a
district), takes effect from a date and sets some parameters; the parameters in force for a region on
a day are the built-in defaults, overlaid by the national version in force, then the province's, the
city's and the district's (a longer code wins). Versions are never edited: a change is a new version.
A plan keeps the parameters in force when it was submitted, so a rule change never rewrites it.
Pure Python: the server, the kiosk daemon and the tests share it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from backend.domain.errors import invalid

_OCCUPATION = re.compile(r"^\d-\d{2}(-\d{2}){0,2}$|^[0-9A-Z][0-9A-Z-]{0,31}$")
_GROUP = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

# Source 002: 建档立卡/低保 households, 就业困难人员, 零就业家庭, rural graduates not continuing school.
LIVING_ALLOWANCE_DEFAULT_GROUPS = ("poverty_registered", "subsistence_allowance", "employment_difficulty",
                                   "zero_employment_family", "rural_graduate")


@dataclass(frozen=True)
class Param:
    """One policy parameter: its kind, bounds, built-in default and what it means."""

    kind: str          # int, number, bool, codes (list of occupation codes), groups (list), fen_by_code, percent_by_group
    default: object
    low: float | None = None
    high: float | None = None
    meaning: str = ""


# The built-in defaults (shared/DESIGN.md "Rules"); each can be overridden per region by a version.
PARAMS: Mapping[str, Param] = MappingProxyType({
    "checkin_open_before_min": Param("int", 30, 0, 240, "check-in opens this many minutes before the lesson"),
    "checkout_close_after_min": Param("int", 30, 0, 240, "check-out closes this many minutes after the lesson"),
    "credit_grace_min": Param("int", 15, 0, 120, "late check-in / early check-out still credited within"),
    "accuracy_max_m": Param("int", 100, 5, 1000, "largest reported GPS accuracy accepted (metres)"),
    "default_radius_m": Param("int", 200, 10, 2000, "geofence radius of a new site (metres)"),
    "require_site_qr": Param("bool", False, meaning="phone check-ins must scan the rotating site QR"),
    "kiosk_face_max_distance": Param("number", 0.5, 0.2, 0.6, "kiosk face match: largest distance accepted"),
    "plan_change_days": Param("int", 2, 0, 60, "whole-plan changes after approval until this many days before"),
    "lesson_change_hours": Param("int", 4, 0, 168, "lesson time changes until this many hours before"),
    "filing_lead_working_days": Param("int", 5, 0, 60, "a plan is submitted at least this many working days "
                                                      "before its first lesson (004)"),
    "registration_lead_days": Param("int", 0, 0, 60, "trainees join until this many days before the first "
                                                    "lesson (003: Shanghai 3)"),
    "online_share_max_percent": Param("int", 40, 0, 100, "online class hours of a blended plan at most (002)"),
    "online_only_occupations": Param("codes", (), meaning="pure online plans only for these occupations "
                                                          "(000); empty: any"),
    "completion_min_percent": Param("int", 80, 1, 100, "credited hours of a completer at least, in percent"),
    "subsidy_rate_fen_per_hour": Param("int", 3000, 0, 10_000_000, "subsidy per credited class hour (004)"),
    "subsidy_standards_fen": Param("fen_by_code", {}, meaning="project standard per trainee by occupation code "
                                                              "(003); used instead of the hourly rate"),
    "subsidy_ratio_percent": Param("percent_by_group", {}, meaning="share of the standard by target group "
                                                                   "(003); others 100"),
    "annual_cap_fen": Param("int", 100_000, 0, 100_000_000, "training subsidy per person per year at most (004)"),
    "claim_deadline_months": Param("int", 6, 1, 36, "subsidy application within this many months of the "
                                                    "plan's end (004)"),
    "publicity_working_days": Param("int", 5, 1, 30, "publicity (公示) before disbursement (002, 004)"),
    "review_deadline_working_days": Param("int", 15, 1, 90, "the bureau answers a completion within (004)"),
    "payment_deadline_working_days": Param("int", 30, 1, 180, "payment within this after publicity (004)"),
    "living_allowance_fen_per_day": Param("int", 0, 0, 100_000, "living allowance per day of online training; "
                                                               "0 off (002: 3,000 when on)"),
    "living_allowance_groups": Param("groups", LIVING_ALLOWANCE_DEFAULT_GROUPS,
                                     meaning="target groups the living allowance is for (002)"),
})


def defaults(overrides: Mapping[str, object] | None = None) -> dict:
    """The built-in parameters (deployment-wide environment overrides applied, validated)."""
    out = {k: _thaw(p.default) for k, p in PARAMS.items()}
    for key, value in (overrides or {}).items():
        out[key] = validate_value(key, value)
    return out


def _thaw(value):
    return list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, dict) else value


def _bad(field: str, reason: str, **more) -> Exception:
    return invalid("invalid_policy", field=field, reason=reason, **more)


def validate_value(key: str, value):
    """The value in canonical form, or 422 invalid_policy naming the field."""
    spec = PARAMS.get(key)
    if spec is None:
        raise _bad(key, "unknown_key")
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise _bad(key, "not_boolean")
        return value
    if spec.kind in ("int", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise _bad(key, "not_a_number")
        if spec.kind == "int" and (not float(value).is_integer()):
            raise _bad(key, "not_an_integer")
        if not spec.low <= value <= spec.high:
            raise _bad(key, "out_of_range", min=spec.low, max=spec.high)
        return int(value) if spec.kind == "int" else float(value)
    if spec.kind in ("codes", "groups"):
        if not isinstance(value, list | tuple) or len(value) > 2000:
            raise _bad(key, "not_a_list")
        pattern = _OCCUPATION if spec.kind == "codes" else _GROUP
        out = []
        for item in value:
            if not isinstance(item, str) or not pattern.match(item):
                raise _bad(key, "bad_item", item=str(item)[:40])
            out.append(item)
        return sorted(set(out))
    # fen_by_code / percent_by_group: a small mapping
    if not isinstance(value, dict) or len(value) > 2000:
        raise _bad(key, "not_a_mapping")
    pattern, top = (_OCCUPATION, 100_000_000) if spec.kind == "fen_by_code" else (_GROUP, 100)
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not pattern.match(k):
            raise _bad(key, "bad_key", item=str(k)[:40])
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= top:
            raise _bad(key, "bad_value", item=k, max=top)
        out[k] = v
    return dict(sorted(out.items()))


def validate_params(params) -> dict:
    """A version's parameters (a subset of PARAMS), validated and canonical; 422 invalid_policy otherwise."""
    if not isinstance(params, dict) or not params:
        raise _bad("params", "empty")
    return {key: validate_value(key, value) for key, value in sorted(params.items())}


def region_levels(region_code: str) -> list[str]:
    """The region codes whose versions apply, broadest first: "", province, city, district."""
    code = region_code or ""
    return list(dict.fromkeys(lvl for lvl in ("", code[:2], code[:4], code[:6]) if len(lvl) <= len(code)))


@dataclass(frozen=True)
class Version:
    """One stored version, as the resolver needs it."""

    id: int
    region_code: str
    effective_from: date
    params: Mapping[str, object]


def in_force(versions: Iterable[Version], region_code: str, on: date) -> list[Version]:
    """Per level of `region_code` (broadest first), the latest version effective on `on`, if any."""
    best: dict[str, Version] = {}
    levels = region_levels(region_code)
    for v in versions:
        if v.region_code not in levels or v.effective_from > on:
            continue
        have = best.get(v.region_code)
        if have is None or (v.effective_from, v.id) > (have.effective_from, have.id):
            best[v.region_code] = v
    return [best[lvl] for lvl in levels if lvl in best]


def resolve(versions: Iterable[Version], region_code: str, on: date,
            base: Mapping[str, object] | None = None) -> tuple[dict, dict]:
    """(params, sources): every key's value in force, and which version set it (None: the built-in default)."""
    params = dict(base) if base is not None else defaults()
    sources: dict[str, int | None] = {k: None for k in params}
    for v in in_force(versions, region_code, on):
        for key, value in v.params.items():
            params[key] = _thaw(value)
            sources[key] = v.id
    return params, sources


def most_specific(versions: Iterable[Version], region_code: str, on: date) -> int | None:
    """The version a plan names as its policy: the most specific one in force (None: defaults only)."""
    chain = in_force(versions, region_code, on)
    return chain[-1].id if chain else None
