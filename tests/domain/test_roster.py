"""Roster comparison (比对) and target-group parsing, as tables at their boundaries."""
from __future__ import annotations

from datetime import date

import pytest

from backend.domain.roster import comparison_reasons, occupation_window, parse_groups

START = date(2026, 3, 10)


@pytest.mark.parametrize("value, codes, unknown", [
    (None, [], []),
    ("", [], []),
    ("失业人员", ["unemployed"], []),
    ("失业人员、农民工", ["migrant_worker", "unemployed"], []),
    ("veteran, 失业人员；失业人员", ["unemployed", "veteran"], []),
    (["disabled", "退役军人"], ["disabled", "veteran"], []),
    ("失业人员 外星人", ["unemployed"], ["外星人"]),
    (["x"], [], ["x"]),
])
def test_parse_groups(value, codes, unknown):
    assert parse_groups(value) == (codes, unknown)


@pytest.mark.parametrize("birth, reasons", [
    (date(2010, 3, 10), []),          # turns 16 on the first day
    (date(2010, 3, 11), ["age"]),     # still 15
    (date(1965, 3, 11), []),          # 60 until tomorrow
    (date(1965, 3, 10), ["age"]),     # 61 on the first day
    (date(2010, 2, 28), []),
])
def test_working_age_on_the_first_day(birth, reasons):
    assert comparison_reasons(birth, "350102", [], START, 16, 60) == reasons


def test_29_february_birthday_counts_on_1_march():
    # Born 2008-02-29: turns 16 on 2024-02-29, so a plan starting the day before sees a 15-year-old.
    assert comparison_reasons(date(2008, 2, 29), "350102", [], date(2024, 2, 28), 16, 60) == ["age"]
    assert comparison_reasons(date(2008, 2, 29), "350102", [], date(2024, 2, 29), 16, 60) == []


@pytest.mark.parametrize("prefixes, region, reasons", [
    ((), "440101", []),
    (("3501",), "350102", []),
    (("3501",), "350203", ["household_region"]),
    (("3501", "3502"), "350203", []),
])
def test_household_region_restriction(prefixes, region, reasons):
    assert comparison_reasons(date(1990, 1, 1), region, [], START, 16, 60, prefixes) == reasons


@pytest.mark.parametrize("rules, groups, reasons", [
    ({"groups": ["unemployed"]}, ["unemployed"], []),
    ({"groups": ["unemployed"]}, ["veteran"], ["group"]),
    ({"groups": None}, [], []),
    ({"age_max": 30}, [], ["age"]),
    ({"household_regions": ["44"]}, [], ["household_region"]),
    ({"directed": ["x"]}, [], []),  # directed lists were checked at claim time
])
def test_voucher_rules(rules, groups, reasons):
    assert comparison_reasons(date(1990, 1, 1), "350102", groups, START, 16, 60, (), rules) == reasons


def test_reasons_come_in_a_stable_order():
    got = comparison_reasons(date(2015, 1, 1), "440101", [], START, 16, 60, ("35",), {"groups": ["veteran"]},
                             other_live_enrolment=True)
    assert got == ["age", "group", "household_region", "duplicate_occupation_enrolment"]


def test_occupation_window_is_the_year_before_and_the_plan():
    assert occupation_window(START, date(2026, 3, 20)) == (date(2025, 3, 10), date(2026, 3, 20))
