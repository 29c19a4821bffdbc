"""Policy versions per region: creation (audited, never edited), what is in force, and a plan's parameters."""
from __future__ import annotations

import threading
import time
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..domain import policy as rules
from ..domain.errors import forbidden, invalid
from ..domain.identity import region_in_scope
from ..extensions import db
from ..models import Policy, TrainingPlan
from ..security.actor import Actor
from ..settings import app_cache, app_settings
from . import audit
from .persons import shanghai_today

# Deployment-wide settings that predate policies, and the parameter each one is the default of.
_LEGACY = {"CHECK_IN_BEFORE_MIN": "checkin_open_before_min", "CHECK_OUT_AFTER_MIN": "checkout_close_after_min",
           "ATTENDANCE_GRACE_MIN": "credit_grace_min", "MAX_ACCURACY_M": "accuracy_max_m",
           "DEFAULT_RADIUS_M": "default_radius_m", "FACE_MATCH_THRESHOLD": "kiosk_face_max_distance",
           "PLAN_CHANGE_DAYS": "plan_change_days", "LESSON_CHANGE_HOURS": "lesson_change_hours",
           "SUBSIDY_RATE_FEN_PER_HOUR": "subsidy_rate_fen_per_hour", "SUBSIDY_ANNUAL_CAP_FEN": "annual_cap_fen",
           "SUBSIDY_APPLICATION_MONTHS": "claim_deadline_months", "PUBLICITY_WORKING_DAYS": "publicity_working_days"}
# Versions change rarely and are read on hot paths (every check-in of a plan submitted before policies):
# each app keeps them for a few seconds (other workers see a new version within that); creating one
# clears this worker's copy at once.
_CACHE_S = 5.0
_cache_lock = threading.Lock()


def _cache() -> dict:
    return app_cache("policy_versions", {"at": 0.0, "versions": None})


def builtin(cfg=None) -> dict:
    """The national built-in parameters: shared/DESIGN.md's defaults with this deployment's settings applied."""
    cfg = cfg if cfg is not None else app_settings()
    over: dict = {}
    for name, key in _LEGACY.items():
        if name in cfg:
            over[key] = cfg[name]
    if "ONLINE_MAX_SHARE" in cfg:
        over["online_share_max_percent"] = round(float(cfg["ONLINE_MAX_SHARE"]) * 100)
    if "COMPLETION_RATIO" in cfg:
        over["completion_min_percent"] = round(float(cfg["COMPLETION_RATIO"]) * 100)
    if "LIVING_ALLOWANCE_ENABLED" in cfg:
        over["living_allowance_fen_per_day"] = int(cfg["LIVING_ALLOWANCE_FEN_PER_DAY"]) \
            if cfg["LIVING_ALLOWANCE_ENABLED"] else 0
    groups = cfg.get("LIVING_ALLOWANCE_GROUPS")
    if groups:
        over["living_allowance_groups"] = [g.strip() for g in groups.split(",") if g.strip()] \
            if isinstance(groups, str) else list(groups)
    # The legacy living-allowance settings (an on/off switch, a comma list) are read above; every other key
    # may come from a setting of its own name in capitals (config.load parses those from the environment).
    special = {"LIVING_ALLOWANCE_FEN_PER_DAY", "LIVING_ALLOWANCE_GROUPS"}
    for key in rules.PARAMS:
        name = key.upper()
        if name in cfg and name not in _LEGACY and name not in special:
            over[key] = cfg[name]
    return rules.defaults(over)


def _load_versions() -> list[rules.Version]:
    rows = db.session.execute(select(Policy.id, Policy.region_code, Policy.effective_from, Policy.params)).all()
    return [rules.Version(r.id, r.region_code, r.effective_from, r.params or {}) for r in rows]


def versions() -> list[rules.Version]:
    """Every stored version (cached a few seconds per process)."""
    cache = _cache()
    with _cache_lock:
        if cache["versions"] is not None and time.monotonic() - cache["at"] < _CACHE_S:
            return cache["versions"]
    loaded = _load_versions()
    with _cache_lock:
        cache["versions"], cache["at"] = loaded, time.monotonic()
    return loaded


def forget_cached() -> None:
    """Drop this app's cached versions (after a write)."""
    with _cache_lock:
        _cache()["versions"] = None


def effective(region_code: str, on: date) -> tuple[dict, dict]:
    """(params, sources) in force for a region on a day."""
    return rules.resolve(versions(), region_code, on, builtin())


def plan_params(plan: TrainingPlan, now: datetime) -> dict:
    """The parameters every rule of `plan` reads: its snapshot from submission, else what is in force now
    for its region (a draft), or on its submission day (plans submitted before policies existed)."""
    if plan.policy_params:
        return dict(plan.policy_params)
    day = shanghai_today(plan.submitted_at) if plan.submitted_at else shanghai_today(now)
    return effective(plan.region_code, day)[0]


def params_for(region_code: str, policy_params: dict | None, submitted_at: datetime | None, now: datetime) -> dict:
    """plan_params for callers that hold the plan's columns rather than the row (the check-in hot path)."""
    if policy_params:
        return policy_params
    day = shanghai_today(submitted_at) if submitted_at else shanghai_today(now)
    return effective(region_code, day)[0]


def snapshot(plan: TrainingPlan, now: datetime) -> None:
    """Record on the plan the policy in force for its region today (at submission)."""
    day = shanghai_today(now)
    params, _sources = effective(plan.region_code, day)
    plan.policy_params = params
    plan.policy_id = rules.most_specific(versions(), plan.region_code, day)


def _may_write(a: Actor, region_code: str) -> None:
    if a.role == "admin":
        return
    if a.role == "supervisor" and region_code and region_in_scope(region_code, a.region_code):
        return
    raise forbidden("forbidden", reason="admins set any region's policy; supervisors their own region",
                    region_code=region_code)


def create_version(a: Actor, region_code: str, effective_from: date, params: dict, note: str | None,
                   now: datetime) -> Policy:
    """A new version for a region ("" national), effective from today or later; audited."""
    region_code = (region_code or "").strip()
    if region_code and not (region_code.isdigit() and len(region_code) in (2, 4, 6)):
        raise invalid("invalid_policy", field="region_code", reason="2, 4 or 6 digits, or empty for national")
    _may_write(a, region_code)
    if effective_from < shanghai_today(now):
        # Past days are settled: plans submitted then keep what was in force.
        raise invalid("invalid_policy", field="effective_from", reason="in_the_past",
                      today=shanghai_today(now).isoformat())
    clean = rules.validate_params(params)
    version = Policy(region_code=region_code, effective_from=effective_from, params=clean,
                     note=(note or "").strip() or None, created_by=a.user_id, created_at=now)
    db.session.add(version)
    db.session.flush()
    audit.record(a.label, "policy.create", "policy", version.id, now,
                 after={"region_code": region_code, "effective_from": effective_from.isoformat(), "params": clean})
    forget_cached()
    return version


def list_versions(a: Actor, region_code: str | None):
    """Versions a supervisor may see (own region, the levels above it, national), or all for an admin."""
    stmt = (select(Policy).options(selectinload(Policy.creator))
            .order_by(Policy.region_code, Policy.effective_from, Policy.id))
    rows = db.session.execute(stmt).scalars().all()
    out = []
    for p in rows:
        if region_code is not None and p.region_code not in rules.region_levels(region_code):
            continue
        if a.role == "supervisor" and not (p.region_code == "" or region_in_scope(p.region_code, a.region_code)
                                           or region_in_scope(a.region_code, p.region_code)):
            continue
        out.append(p)
    return out


def parameters() -> dict:
    """Per parameter key, its kind and bounds (min/max for numbers), so a form can offer the right input."""
    return {key: {"kind": spec.kind, "min": spec.low, "max": spec.high} for key, spec in rules.PARAMS.items()}
