"""Which region each audited object belongs to, so a supervisor reads only their region's trails.

Every object type written by `audit.record` is listed in SCOPES; a type missing here (retention runs,
seed entries) is for admins only. `training_plan` is the old name of `plan`: entries written before #15
keep it (their hash covers the type, so they are never rewritten) and every read accepts both.
"""
from __future__ import annotations

from sqlalchemy import Select, String, and_, cast, func, or_, select

from ..domain.certificates import normalize_certificate_number
from ..domain.identity import region_in_scope, region_prefix
from ..extensions import db
from ..models import (
    AuditEntry,
    Certificate,
    Device,
    Enrollment,
    Evaluation,
    Institution,
    Lesson,
    MakeupRequest,
    Person,
    PlanChangeRequest,
    Policy,
    Site,
    SubsidyClaim,
    TrainingPlan,
    User,
    Voucher,
    VoucherBatch,
)

# Old object type → the one name used now (reads accept both; writes use the new one).
ALIASES = {"training_plan": "plan"}


def canonical(object_type: str | None) -> str | None:
    """The current name of an object type (`training_plan` → `plan`)."""
    return ALIASES.get(object_type, object_type) if object_type else object_type


def stored_types(object_type: str) -> list[str]:
    """Every object_type value the log may hold for this type (the name and its old aliases)."""
    name = canonical(object_type)
    return [name] + sorted(old for old, new in ALIASES.items() if new == name)


def _plan_region(id_col, plan_col) -> Select:
    return select(id_col, TrainingPlan.region_code).join(TrainingPlan, TrainingPlan.id == plan_col)


def _inst_region(id_col, inst_col) -> Select:
    return select(id_col, Institution.region_code).join(Institution, Institution.id == inst_col)


# object type → selects of (object id, region code); an object may sit in several regions (a person:
# household region and every plan region they are enrolled in) and a supervisor covering any reads it.
SCOPES: dict[str, tuple[Select, ...]] = {
    "plan": (select(TrainingPlan.id, TrainingPlan.region_code),),
    "subsidy_claim": (select(SubsidyClaim.id, SubsidyClaim.region_code),),
    "voucher_batch": (select(VoucherBatch.id, VoucherBatch.region_code),),
    "voucher": (select(Voucher.id, VoucherBatch.region_code).join(VoucherBatch, VoucherBatch.id == Voucher.batch_id),),
    "institution": (select(Institution.id, Institution.region_code),),
    "certificate": (_plan_region(Certificate.id, Certificate.plan_id),),
    "plan_change_request": (_plan_region(PlanChangeRequest.id, PlanChangeRequest.plan_id),),
    "device": (_inst_region(Device.id, Device.institution_id),),
    "site": (_inst_region(Site.id, Site.institution_id),),
    "enrollment": (_plan_region(Enrollment.id, Enrollment.plan_id),),
    "lesson": (_plan_region(Lesson.id, Lesson.plan_id),),
    "evaluation": (_plan_region(Evaluation.id, Evaluation.plan_id),),
    "makeup_request": (select(MakeupRequest.id, TrainingPlan.region_code)
                       .join(Lesson, Lesson.id == MakeupRequest.lesson_id)
                       .join(TrainingPlan, TrainingPlan.id == Lesson.plan_id),),
    "person": (select(Person.id, Person.household_region),
               select(Enrollment.person_id, TrainingPlan.region_code)
               .join(TrainingPlan, TrainingPlan.id == Enrollment.plan_id)),
    "user": (select(User.id, User.region_code).where(User.region_code.is_not(None)),
             _inst_region(User.id, User.institution_id)),
    "policy": (select(Policy.id, Policy.region_code),),
}
TYPES = sorted(SCOPES)


def resolve_id(object_type: str | None, object_id: str | None) -> str | None:
    """The logged id of an object named another way: a certificate by its 17-character number."""
    if canonical(object_type) == "certificate" and object_id:
        number = normalize_certificate_number(object_id)
        if number is not None:
            found = db.session.execute(select(Certificate.id).where(Certificate.number == number)).scalar()
            return str(found) if found is not None else object_id
    return object_id


def _ascii_ids(ids) -> list[int]:
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses (a 500).
    return [int(i) for i in ids if isinstance(i, str) and i.isascii() and i.isdigit() and len(i) < 19]


def regions_of(object_type: str, ids) -> dict[str, set[str]]:
    """Object id (as the log writes it) → the regions it belongs to; ids that exist nowhere are absent."""
    wanted = _ascii_ids(ids)
    found: dict[str, set[str]] = {}
    if not wanted:
        return found
    for stmt in SCOPES.get(canonical(object_type), ()):
        id_col = stmt.selected_columns[0]
        for oid, region in db.session.execute(stmt.where(id_col.in_(wanted))).all():
            if region is not None:
                found.setdefault(str(oid), set()).add(region)
    if canonical(object_type) == "lesson":
        _deleted_lessons(wanted, found)
    return found


def _deleted_lessons(wanted: list[int], found: dict[str, set[str]]) -> None:
    # A deleted lesson's row is gone; its `lesson.delete` entry names the plan it belonged to.
    gone = [str(i) for i in wanted if str(i) not in found]
    if not gone:
        return
    rows = db.session.execute(select(AuditEntry.object_id, AuditEntry.after).where(
        AuditEntry.object_type == "lesson", AuditEntry.action == "lesson.delete",
        AuditEntry.object_id.in_(gone))).all()
    plan_of = {oid: (after or {}).get("plan_id") for oid, after in rows}
    plans = dict(db.session.execute(select(TrainingPlan.id, TrainingPlan.region_code).where(
        TrainingPlan.id.in_([p for p in plan_of.values() if isinstance(p, int)]))).all())
    for oid, plan_id in plan_of.items():
        if plan_id in plans:
            found.setdefault(oid, set()).add(plans[plan_id])


def covers(scope_prefix: str, object_type: str, regions: set[str]) -> bool:
    """Whether a supervisor's region prefix covers an object placed in `regions`.

    National policy versions (region "") are read by every supervisor, as GET /policies shows them.
    """
    if canonical(object_type) == "policy" and "" in regions:
        return True
    return any(region_in_scope(r, scope_prefix) for r in regions)


def type_filter(object_type: str):
    """A where-clause matching entries of this type under any of its names."""
    names = stored_types(object_type)
    return AuditEntry.object_type.in_(names) if len(names) > 1 else AuditEntry.object_type == names[0]


def in_region_filter(scope_prefix: str):
    """A where-clause keeping entries whose object lies in the supervisor's region (any audited type)."""
    prefix = region_prefix(scope_prefix)
    clauses = []
    for name in TYPES:
        subqueries = []
        for stmt in SCOPES[name]:
            id_col, region_col = stmt.selected_columns[0], stmt.selected_columns[1]
            cond = region_col.like(f"{prefix}%")
            if name == "policy":
                cond = or_(cond, region_col == "")
            subqueries.append(_as_text(stmt.with_only_columns(id_col).where(cond)))
        id_match = or_(*[AuditEntry.object_id.in_(sq) for sq in subqueries])
        clauses.append(and_(type_filter(name), id_match))
    return or_(*clauses)


def _as_text(stmt: Select) -> Select:
    # The log keeps ids as text; compare like with like on both databases.
    return stmt.with_only_columns(cast(stmt.selected_columns[0], String))


# object type → (id column, a short human label) for the picker of recent objects.
LABELS = {
    "plan": (TrainingPlan.id, TrainingPlan.title),
    "lesson": (Lesson.id, Lesson.title),
    "institution": (Institution.id, Institution.name),
    "site": (Site.id, Site.name),
    "device": (Device.id, Device.name),
    "voucher_batch": (VoucherBatch.id, VoucherBatch.name),
    "voucher": (Voucher.id, Voucher.code),
    "person": (Person.id, Person.name),
    "user": (User.id, User.username),
}


def labels_of(object_type: str, ids) -> dict[str, str]:
    """Object id → its short label (title, name, code), for the types that have one."""
    known = LABELS.get(canonical(object_type))
    wanted = _ascii_ids(ids)
    if not known or not wanted:
        return {}
    return {str(i): label for i, label in db.session.execute(select(*known).where(known[0].in_(wanted))).all()}


def recent_objects(scope_prefix: str | None, object_type: str | None, limit: int) -> list[dict]:
    """The objects whose trail changed last, newest first: `{object_type, object_id, label, last_action,
    last_at, entries}`; a supervisor's scope prefix keeps their region's objects only (None: everything)."""
    last = func.max(AuditEntry.id).label("last_id")
    stmt = (select(AuditEntry.object_type, AuditEntry.object_id, last, func.count().label("n"))
            .group_by(AuditEntry.object_type, AuditEntry.object_id).order_by(last.desc()).limit(limit * 2))
    if object_type:
        stmt = stmt.where(type_filter(object_type))
    if scope_prefix is not None:
        stmt = stmt.where(in_region_filter(scope_prefix))
    merged: dict[tuple[str, str], dict] = {}
    for otype, oid, last_id, n in db.session.execute(stmt).all():
        key = (canonical(otype), oid)
        row = merged.setdefault(key, {"object_type": key[0], "object_id": oid, "last_id": 0, "entries": 0})
        row["last_id"], row["entries"] = max(row["last_id"], last_id), row["entries"] + n
    rows = sorted(merged.values(), key=lambda r: -r["last_id"])[:limit]
    lasts = {e.id: e for e in db.session.execute(
        select(AuditEntry).where(AuditEntry.id.in_([r["last_id"] for r in rows]))).scalars()}
    by_type: dict[str, list[str]] = {}
    for r in rows:
        by_type.setdefault(r["object_type"], []).append(r["object_id"])
    labels = {t: labels_of(t, ids) for t, ids in by_type.items()}
    out = []
    for r in rows:
        e = lasts[r.pop("last_id")]
        out.append({**r, "label": labels[r["object_type"]].get(r["object_id"]), "last_action": e.action,
                    "last_at": e.at, "last_actor": e.actor})
    return out
