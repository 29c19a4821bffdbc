"""Roster rules: target groups and the eligibility comparison (比对) of a trainee against a plan."""
from __future__ import annotations

import re
from datetime import date, timedelta

from backend.domain.errors import conflict
from backend.domain.identity import age_on
from backend.domain.vouchers import eligibility_reasons

# Target groups (重点群体) a roster may declare: code -> the label the Excel template uses.
TARGET_GROUPS: dict[str, str] = {
    "unemployed": "失业人员",
    "migrant_worker": "农民工",
    "graduate": "高校毕业生",
    "rural_graduate": "农村未升学毕业生",
    "veteran": "退役军人",
    "disabled": "残疾人",
    "poverty_registered": "脱贫人口",
    "subsistence_allowance": "低保家庭成员",
    "employment_difficulty": "就业困难人员",
    "zero_employment_family": "零就业家庭成员",
    "enterprise_employee": "企业职工",
}
_BY_LABEL = {label: code for code, label in TARGET_GROUPS.items()}
_GROUP_SEPARATORS = re.compile(r"[,，、;；/\s]+")

# Plan states whose enrolments count as "live" for the one-enrolment-per-occupation-a-year rule:
# drafts and rejected plans may never run, so they do not block anyone.
LIVE_PLAN_STATES = ("submitted", "approved", "in_progress", "completion_submitted", "completed")
OCCUPATION_LOOKBACK = timedelta(days=365)

REASON_ORDER = ("age", "group", "household_region", "duplicate_occupation_enrolment")


def parse_groups(value) -> tuple[list[str], list[str]]:
    """Group codes from a cell or list (codes or Chinese labels, any separator); returns (codes, unknown)."""
    if value is None:
        return [], []
    items = value if isinstance(value, (list, tuple)) else _GROUP_SEPARATORS.split(str(value))
    codes: list[str] = []
    unknown: list[str] = []
    for raw in items:
        item = str(raw).strip()
        if not item:
            continue
        code = item if item in TARGET_GROUPS else _BY_LABEL.get(item)
        if code is None:
            unknown.append(item)
        elif code not in codes:
            codes.append(code)
    return sorted(codes), unknown


def occupation_window(starts_on: date, ends_on: date) -> tuple[date, date]:
    """Dates another plan of the same occupation must touch to count: the year before this plan, and its run."""
    return starts_on - OCCUPATION_LOOKBACK, ends_on


def comparison_reasons(birth_date: date, household_region: str, groups, plan_starts_on: date,
                       age_min: int, age_max: int, household_prefixes=(), voucher_rules: dict | None = None,
                       other_live_enrolment: bool = False) -> list[str]:
    """Why a trainee fails the roster comparison (empty = eligible), in a stable order.

    age: legal working age [age_min, age_max] on the plan's first day. household_region: the plan-level
    restriction (code prefixes; empty = none). voucher_rules: the eligibility of the batch of the voucher
    used for this enrolment (groups, age range, household regions). other_live_enrolment: the person is on
    another live plan of the same occupation within occupation_window().
    """
    reasons: set[str] = set()
    age = age_on(birth_date, plan_starts_on)
    if age < age_min or age > age_max:
        reasons.add("age")
    if household_prefixes and not any(household_region.startswith(p) for p in household_prefixes):
        reasons.add("household_region")
    if voucher_rules:
        facts = {"groups": set(groups or ()), "birth_date": birth_date, "household_region": household_region}
        # Directed lists were enforced when the voucher was claimed; here only the person's facts matter.
        rules = {k: voucher_rules.get(k) for k in ("groups", "age_min", "age_max", "household_regions")}
        reasons.update(eligibility_reasons(facts, rules, plan_starts_on))
    if other_live_enrolment:
        reasons.add("duplicate_occupation_enrolment")
    return [r for r in REASON_ORDER if r in reasons]


# Plan states in which a roster row may still be removed (the plan has not run; review may be pending).
REMOVABLE_PLAN_STATES = ("draft", "rejected", "submitted", "approved")


def check_enrollment_removal(plan_status: str, enrollment_status: str, roster_is_frozen: bool,
                             has_attendance: bool) -> None:
    """Raise unless a roster row may be removed: the roster not frozen (no lesson started), the plan not
    running or closed, the row still active, and no attendance, make-up or online record for the person."""
    if roster_is_frozen:
        raise conflict("roster_frozen")
    if plan_status not in REMOVABLE_PLAN_STATES:
        raise conflict("invalid_state", status=plan_status, action="remove_trainee")
    if enrollment_status != "active":
        raise conflict("invalid_state", status=enrollment_status, action="remove_trainee")
    if has_attendance:
        raise conflict("attendance_exists", object="enrollment")
