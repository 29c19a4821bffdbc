"""Trainee evaluations of institutions (培训评价) and the institution's Bayesian rating."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from ..clock import now as clock_now
from ..domain import plans as plan_rules
from ..domain import rating as rules
from ..domain.errors import conflict, forbidden, not_found
from ..domain.subsidy import completed
from ..extensions import db
from ..models import Certificate, Enrollment, Evaluation, Institution, TrainingPlan
from ..security.authz import get_or_404
from . import audit
from .outcomes import completion_ratio, credited_hours_by_person, plan_class_hours


def _completed_by(plan: TrainingPlan, person_id: int) -> bool:
    """The person holds the plan's certificate, or reached the completion bar on it."""
    if db.session.execute(select(Certificate.id).where(Certificate.plan_id == plan.id,
                                                       Certificate.person_id == person_id)).first():
        return True
    hours = credited_hours_by_person(plan.id).get(person_id, Decimal(0))
    return completed(hours, plan_class_hours(plan.id), completion_ratio(plan, clock_now()))


def evaluate(actor_label: str, person_id: int, data: dict, now: datetime) -> Evaluation:
    """Record the trainee's one rating of a completed plan's institution (403 not_completed, 409 already)."""
    rules.check_scores(data["teaching"], data["facilities"], data["organisation"])
    plan = db.session.get(TrainingPlan, data["plan_id"])
    if plan is None:
        raise not_found("not_found", object="plan")
    enrolled = db.session.execute(select(Enrollment.id).where(
        Enrollment.plan_id == plan.id, Enrollment.person_id == person_id, Enrollment.status == "active")).first()
    if not enrolled or plan.status != plan_rules.COMPLETED or not _completed_by(plan, person_id):
        raise forbidden("not_completed", plan_id=plan.id)
    if db.session.execute(select(Evaluation.id).where(Evaluation.plan_id == plan.id,
                                                      Evaluation.person_id == person_id)).first():
        raise conflict("already_evaluated", plan_id=plan.id)
    comment = (data.get("comment") or "").strip() or None
    ev = Evaluation(plan_id=plan.id, person_id=person_id, institution_id=plan.institution_id,
                    teaching=data["teaching"], facilities=data["facilities"], organisation=data["organisation"],
                    comment=comment, created_at=now)
    db.session.add(ev)
    db.session.flush()  # a concurrent duplicate fails here on the unique constraint → 409 conflict
    audit.record(actor_label, "evaluation.create", "evaluation", ev.id, now,
                 after={"plan_id": plan.id, "institution_id": plan.institution_id, "teaching": ev.teaching,
                        "facilities": ev.facilities, "organisation": ev.organisation})
    return ev


def _number(value: Decimal) -> float:
    # Ratings are display scores already rounded to 2 places, not money; JSON numbers suit charts.
    return float(value)


def institution_rating(institution_id: int) -> dict:
    """{score, count, by_aspect}: Bayesian averages, so a few perfect votes do not beat many good ones."""
    get_or_404(Institution, institution_id)
    count, teaching, facilities, organisation = db.session.execute(
        select(func.count(Evaluation.id), func.coalesce(func.sum(Evaluation.teaching), 0),
               func.coalesce(func.sum(Evaluation.facilities), 0), func.coalesce(func.sum(Evaluation.organisation), 0))
        .where(Evaluation.institution_id == institution_id)).one()
    sums = {"teaching": int(teaching), "facilities": int(facilities), "organisation": int(organisation)}
    # The overall score averages each evaluation's three aspects, kept exact as a fraction until rounding.
    overall = Decimal(sum(sums.values())) / 3
    return {"institution_id": institution_id, "count": int(count),
            "score": _number(rules.bayesian_rating(overall, int(count))),
            "by_aspect": {k: _number(rules.bayesian_rating(v, int(count))) for k, v in sums.items()},
            "prior_mean": _number(rules.PRIOR_MEAN), "prior_weight": rules.PRIOR_WEIGHT}
