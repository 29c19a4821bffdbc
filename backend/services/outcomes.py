"""Where each rostered trainee of a plan stands at its end: credited hours against the plan's class hours and
the completion bar, the exam result and the voucher. Read by completion approval (certificates), the subsidy
preview, evaluations, statistics and results; it writes nothing."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from ..domain import subsidy as subsidy_rules
from ..extensions import db
from ..models import Enrollment, Lesson, Person, Result, TrainingPlan, Voucher
from .policies import plan_params


@dataclass
class TraineeOutcome:
    """Where one rostered trainee stands at the end of a plan."""

    enrollment: Enrollment
    person: Person
    credited_hours: Decimal
    completed: bool
    result: Result | None
    voucher: Voucher | None
    excluded: str | None = None  # the supervisor's reason when the completion review excluded the trainee

    @property
    def passed(self) -> bool:
        """A passing result is on file."""
        return bool(self.result and self.result.passed)


def plan_class_hours(plan_id: int) -> Decimal:
    """Sum of the class hours of all of a plan's lessons (offline and online)."""
    total = db.session.execute(select(func.sum(Lesson.class_hours)).where(Lesson.plan_id == plan_id)).scalar()
    return Decimal(str(total)) if total is not None else Decimal(0)


def credited_hours_by_person(plan_id: int) -> dict[int, Decimal]:
    """Credited hours per person on the plan (proven attendance plus approved make-ups and online records)."""
    from .hours import plan_credited_hours  # attendance area owns the crediting
    return {int(pid): Decimal(str(hours)) for pid, hours in plan_credited_hours(plan_id).items()}


def completion_ratio(plan: TrainingPlan, now: datetime) -> Decimal:
    """The plan's completion bar: a share of its class hours (policy completion_min_percent)."""
    return Decimal(int(plan_params(plan, now)["completion_min_percent"])) / 100


def trainee_outcomes(plan: TrainingPlan, now: datetime) -> list[TraineeOutcome]:
    """Every active enrolment of the plan with credited hours, completion, result and voucher."""
    plan_hours = plan_class_hours(plan.id)
    credited = credited_hours_by_person(plan.id)
    ratio = completion_ratio(plan, now)
    rows = db.session.execute(
        select(Enrollment, Person, Result, Voucher)
        .join(Person, Person.id == Enrollment.person_id)
        .outerjoin(Result, (Result.plan_id == Enrollment.plan_id) & (Result.person_id == Enrollment.person_id))
        .outerjoin(Voucher, Voucher.id == Enrollment.voucher_id)
        .where(Enrollment.plan_id == plan.id, Enrollment.status == "active")
        .order_by(Enrollment.id)).all()
    out = []
    for enrollment, person, result, voucher in rows:
        hours = credited.get(person.id, Decimal(0))
        out.append(TraineeOutcome(enrollment, person, hours, subsidy_rules.completed(hours, plan_hours, ratio),
                                  result, voucher))
    return out
