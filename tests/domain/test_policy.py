"""Policy parameters and their resolution per region (backend/domain/policy.py), as tables."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from backend.domain import plans as plan_rules
from backend.domain import policy as p
from backend.domain import subsidy as s
from backend.domain.errors import AppError
from backend.domain.plans import SHANGHAI

V = p.Version


def test_every_parameter_of_the_contract_has_a_default():
    contract = {"checkin_open_before_min", "checkout_close_after_min", "credit_grace_min", "accuracy_max_m",
                "default_radius_m", "require_site_qr", "kiosk_face_max_distance", "plan_change_days",
                "lesson_change_hours", "filing_lead_working_days", "registration_lead_days",
                "online_share_max_percent", "online_only_occupations", "completion_min_percent",
                "subsidy_rate_fen_per_hour", "subsidy_standards_fen", "subsidy_ratio_percent", "annual_cap_fen",
                "claim_deadline_months", "publicity_working_days", "review_deadline_working_days",
                "payment_deadline_working_days", "living_allowance_fen_per_day", "living_allowance_groups"}
    assert set(p.PARAMS) == contract
    d = p.defaults()
    assert (d["filing_lead_working_days"], d["registration_lead_days"], d["subsidy_rate_fen_per_hour"],
            d["annual_cap_fen"], d["review_deadline_working_days"], d["payment_deadline_working_days"],
            d["living_allowance_fen_per_day"], d["online_only_occupations"]) == (5, 0, 3000, 100000, 15, 30, 0, [])


@pytest.mark.parametrize("key, value, ok", [
    ("checkin_open_before_min", 0, True), ("checkin_open_before_min", 240, True),
    ("checkin_open_before_min", 241, False), ("checkin_open_before_min", -1, False),
    ("checkin_open_before_min", 1.5, False), ("checkin_open_before_min", True, False),
    ("kiosk_face_max_distance", 0.45, True), ("kiosk_face_max_distance", 0.61, False),
    ("require_site_qr", True, True), ("require_site_qr", 1, False),
    ("online_only_occupations", ["4-04-05-01", "4-04"], True), ("online_only_occupations", ["=cmd"], False),
    ("online_only_occupations", "4-04", False),
    ("subsidy_standards_fen", {"4-03-02-01": 150000}, True), ("subsidy_standards_fen", {"4-03": -1}, False),
    ("subsidy_ratio_percent", {"unemployed": 100, "migrant_worker": 80}, True),
    ("subsidy_ratio_percent", {"unemployed": 101}, False), ("subsidy_ratio_percent", {"Bad Group": 50}, False),
    ("living_allowance_groups", ["poverty_registered"], True), ("nonsense_key", 1, False),
])
def test_values_are_validated(key, value, ok):
    if ok:
        assert p.validate_value(key, value) is not None
        return
    with pytest.raises(AppError) as e:
        p.validate_value(key, value)
    assert (e.value.code, e.value.details["field"]) == ("invalid_policy", key)


VERSIONS = [
    V(1, "", date(2026, 1, 1), {"filing_lead_working_days": 3}),
    V(2, "", date(2026, 6, 1), {"filing_lead_working_days": 7}),
    V(3, "35", date(2026, 1, 1), {"registration_lead_days": 1, "filing_lead_working_days": 4}),
    V(4, "3501", date(2026, 3, 1), {"registration_lead_days": 3}),
    V(5, "350102", date(2026, 4, 1), {"completion_min_percent": 90}),
    V(6, "31", date(2026, 1, 1), {"registration_lead_days": 9}),   # another province: never applies here
]


@pytest.mark.parametrize("region, on, expect", [
    ("350102", date(2025, 12, 31), {"filing_lead_working_days": (5, None), "registration_lead_days": (0, None)}),
    ("350102", date(2026, 1, 1), {"filing_lead_working_days": (4, 3), "registration_lead_days": (1, 3)}),
    ("350102", date(2026, 3, 1), {"registration_lead_days": (3, 4), "completion_min_percent": (80, None)}),
    ("350102", date(2026, 4, 1), {"completion_min_percent": (90, 5), "registration_lead_days": (3, 4)}),
    ("350103", date(2026, 4, 1), {"completion_min_percent": (80, None), "registration_lead_days": (3, 4)}),
    ("440304", date(2026, 7, 1), {"filing_lead_working_days": (7, 2), "registration_lead_days": (0, None)}),
    ("", date(2026, 7, 1), {"filing_lead_working_days": (7, 2)}),
])
def test_the_longest_region_prefix_wins_and_the_latest_version_of_each_level(region, on, expect):
    params, sources = p.resolve(VERSIONS, region, on)
    assert {k: (params[k], sources[k]) for k in expect} == expect
    assert p.most_specific(VERSIONS, region, on) == (p.in_force(VERSIONS, region, on)[-1].id
                                                     if p.in_force(VERSIONS, region, on) else None)


def _sh(y, m, d, h=9):
    return datetime(y, m, d, h, tzinfo=SHANGHAI)


@pytest.mark.parametrize("now, lead, ok", [
    # first lesson Tue 10 March 2026 09:00; 5 working days: file by Tue 3 March
    (_sh(2026, 3, 3, 23), 5, True),
    (_sh(2026, 3, 4, 0), 5, False),
    (_sh(2026, 3, 6, 12), 2, True),           # Fri: Mon 9, Tue 10
    (_sh(2026, 3, 9, 12), 2, False),
    (_sh(2026, 3, 10, 8), 0, True),           # no lead: until the lesson starts
    (_sh(2026, 3, 10, 9), 0, False),
])
def test_filing_lead_in_working_days(now, lead, ok):
    first = _sh(2026, 3, 10, 9)
    if ok:
        plan_rules.check_filing_lead(first, now, lead)
        return
    with pytest.raises(AppError) as e:
        plan_rules.check_filing_lead(first, now, lead)
    assert (e.value.code, e.value.status) == ("filing_too_late", 409)
    if lead:
        assert e.value.details["latest_filing_on"] == {5: "2026-03-03", 2: "2026-03-06"}[lead]


def test_filing_lead_skips_public_holidays():
    """The lead counts the official calendar (chinese_calendar): the National Day week is not working time,
    so five working days before a lesson after it reach back more than a week."""
    first = _sh(2026, 10, 12, 9)
    latest = None
    day = _sh(2026, 9, 20, 12)
    while day < first:
        try:
            plan_rules.check_filing_lead(first, day, 5)
            latest = day.date()
        except AppError:
            break
        day += timedelta(days=1)
    assert latest is not None and s.add_working_days(latest, 5) <= first.date()
    assert s.add_working_days(latest + timedelta(days=1), 5) > first.date()
    assert (first.date() - latest).days > 7   # the holiday week stretched the lead


@pytest.mark.parametrize("now, lead, closed", [
    (_sh(2026, 3, 6, 23), 3, False),       # first lesson Tue 10: closes 7 March 00:00 with 3 days
    (_sh(2026, 3, 7, 0), 3, True),
    (_sh(2026, 3, 10, 8), 0, False),        # no lead: open until the lesson starts (then roster_frozen)
    (_sh(2026, 3, 9, 23), 1, True),
])
def test_registration_lead(now, lead, closed):
    first = _sh(2026, 3, 10, 9)
    if not closed:
        plan_rules.check_registration_open(first, now, lead)
        return
    with pytest.raises(AppError) as e:
        plan_rules.check_registration_open(first, now, lead)
    assert (e.value.code, e.value.status) == ("registration_closed", 409)


@pytest.mark.parametrize("delivery, occupation, listed, ok", [
    ("online", "4-04-05-01", [], True),                   # no list: any occupation
    ("online", "4-04-05-01", ["4-04"], True),             # a prefix covers its codes
    ("online", "4-04-05-01", ["4-04-05-01"], True),
    ("online", "4-03-02-01", ["4-04"], False),
    ("online", "4-040-01", ["4-04"], False),              # prefixes end at a dash
    ("blended", "4-03-02-01", ["4-04"], True),            # only pure online plans are restricted
    ("offline", "4-03-02-01", ["4-04"], True),
])
def test_online_only_occupations(delivery, occupation, listed, ok):
    if ok:
        plan_rules.check_online_only(delivery, occupation, listed)
        return
    with pytest.raises(AppError) as e:
        plan_rules.check_online_only(delivery, occupation, listed)
    assert e.value.code == "online_not_allowed"


BASE = p.defaults()


@pytest.mark.parametrize("params, hours, groups, face, paid, amount, limited_by, kind", [
    ({}, 12, set(), None, 0, 36000, "hours", "hours"),                              # 3,000 × 12
    ({"subsidy_rate_fen_per_hour": 2500}, 12, set(), None, 0, 30000, "hours", "hours"),
    ({"subsidy_standards_fen": {"4-03": 150000}}, 12, set(), None, 0, 100000, "annual_cap", "standard"),
    ({"subsidy_standards_fen": {"4-03": 80000}, "subsidy_ratio_percent": {"migrant_worker": 80}}, 12,
     {"migrant_worker"}, None, 0, 64000, "standard", "standard"),                   # 80,000 × 80 %
    ({"subsidy_standards_fen": {"4-03": 80000}, "subsidy_ratio_percent": {"migrant_worker": 80, "disabled": 100}},
     12, {"migrant_worker", "disabled"}, None, 0, 80000, "standard", "standard"),   # the better ratio
    ({"subsidy_standards_fen": {"4-03": 80000}, "subsidy_ratio_percent": {"migrant_worker": 80}}, 12,
     {"unemployed"}, None, 0, 80000, "standard", "standard"),                        # unlisted group: 100 %
    ({"subsidy_standards_fen": {"4-03": 80000}}, 12, set(), 50000, 0, 50000, "voucher", "standard"),
    ({"subsidy_standards_fen": {"4-03": 80000}}, 12, set(), None, 90000, 10000, "annual_cap", "standard"),
    ({"subsidy_standards_fen": {"4-04": 80000}}, 12, set(), None, 0, 36000, "hours", "hours"),  # other occupation
    ({"annual_cap_fen": 20000}, 12, set(), None, 0, 20000, "annual_cap", "hours"),
])
def test_policy_amount(params, hours, groups, face, paid, amount, limited_by, kind):
    got, capped, by, basis = s.policy_amount(hours, groups, "4-03-02-01", {**BASE, **params}, face, paid)
    assert (got, by, basis["kind"], basis["amount_fen"]) == (amount, limited_by, kind, amount)
    assert capped is (limited_by not in ("hours", "standard"))


def test_timezone_of_the_lead_is_shanghai():
    first = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)   # 09:00 Shanghai
    plan_rules.check_filing_lead(first, datetime(2026, 3, 3, 15, 59, tzinfo=UTC), 5)   # 23:59 Shanghai, Tue 3
    with pytest.raises(AppError):
        plan_rules.check_filing_lead(first, datetime(2026, 3, 3, 16, 0, tzinfo=UTC), 5)  # 00:00 Wed 4
