"""What the bureau owes and is late with (004): completions not answered and claims not paid in time,
each by the deadlines of its plan's policy."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..domain import subsidy as rules
from ..domain.identity import region_prefix
from ..extensions import db
from ..models import Institution, SubsidyClaim, TrainingPlan
from ..security.actor import Actor
from .persons import shanghai_today
from .policies import plan_params


def overdue(a: Actor, now: datetime) -> dict:
    """{completions: [...], payments: [...]}: items in the caller's region past their due day, oldest first."""
    today = shanghai_today(now)
    scope = region_prefix(a.region_code) if a.role == "supervisor" else ""
    completions = []
    for plan, inst in db.session.execute(
            select(TrainingPlan, Institution.name).join(Institution, Institution.id == TrainingPlan.institution_id)
            .where(TrainingPlan.status == "completion_submitted",
                   TrainingPlan.region_code.startswith(scope, autoescape=True))).all():
        days = int(plan_params(plan, now)["review_deadline_working_days"])
        due = rules.add_working_days(shanghai_today(plan.completion_submitted_at), days)
        if today > due:
            completions.append({"plan_id": plan.id, "plan_title": plan.title, "institution": inst,
                                "applied_on": shanghai_today(plan.completion_submitted_at).isoformat(),
                                "due_on": due.isoformat(), "days_late": (today - due).days})
    payments = []
    for claim, plan_title, inst in db.session.execute(
            select(SubsidyClaim, TrainingPlan.title, Institution.name)
            .join(TrainingPlan, TrainingPlan.id == SubsidyClaim.plan_id)
            .join(Institution, Institution.id == SubsidyClaim.institution_id)
            .where(SubsidyClaim.status == "approved", SubsidyClaim.payment_due_on.is_not(None),
                   SubsidyClaim.payment_due_on < today,
                   SubsidyClaim.region_code.startswith(scope, autoescape=True))).all():
        payments.append({"claim_id": claim.id, "plan_id": claim.plan_id, "plan_title": plan_title,
                         "institution": inst, "total_fen": claim.total_fen, "due_on": claim.payment_due_on.isoformat(),
                         "days_late": (today - claim.payment_due_on).days})
    key = lambda item: (-item["days_late"], item["due_on"])  # noqa: E731
    return {"completions": sorted(completions, key=key), "payments": sorted(payments, key=key)}
