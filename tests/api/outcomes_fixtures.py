"""Builders for the results → certificates → subsidy tests: rows are inserted directly with the models so
these tests do not depend on the plan and attendance endpoints (which have their own tests)."""
from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from backend.domain.vouchers import new_voucher_code
from backend.extensions import db
from backend.models import (
    AttendanceEvent,
    Enrollment,
    Lesson,
    Site,
    SubsidyClaim,
    SubsidyLine,
    TrainingPlan,
    Voucher,
    VoucherBatch,
)
from backend.services.persons import new_person
from tests.conftest import auth, make_id_number

API = "/api/v1"
SH = ZoneInfo("Asia/Shanghai")
PLAN_START = date(2026, 3, 2)  # a Monday; lessons 09:00-12:00 Shanghai, 4 class hours each


def sh(y, m, d, h=0, mi=0) -> datetime:
    """An aware Shanghai time."""
    return datetime(y, m, d, h, mi, tzinfo=SH)


def error(r) -> str:
    """The error code of a response."""
    return r.get_json()["error"]["code"]


@pytest.fixture
def app_config(app_config):
    """Long-lived access tokens: these tests move the clock across days."""
    app_config["ACCESS_TOKEN_MINUTES"] = 60 * 24 * 365
    return app_config


def make_site(inst) -> Site:
    site = Site(institution_id=inst.id, name="实训楼", address="福州市鼓楼区", lat=26.08, lon=119.3, radius_m=200,
                created_at=sh(2026, 1, 1))
    db.session.add(site)
    db.session.flush()
    return site


def make_plan(inst, site=None, days=3, start=PLAN_START, status="in_progress", hours=4,
              occupation="4-01-02-01", title="电工培训") -> TrainingPlan:
    """A plan with one 09:00-12:00 offline lesson per day."""
    site = site or make_site(inst)
    plan = TrainingPlan(institution_id=inst.id, region_code=inst.region_code, title=title,
                        occupation_code=occupation, plan_type="pre_job", delivery="offline", starts_on=start,
                        ends_on=start + timedelta(days=days - 1), status=status, created_at=sh(2026, 1, 1))
    db.session.add(plan)
    db.session.flush()
    for i in range(days):
        d = start + timedelta(days=i)
        db.session.add(Lesson(plan_id=plan.id, title=f"第{i + 1}课", mode="offline",
                              starts_at=sh(d.year, d.month, d.day, 9), ends_at=sh(d.year, d.month, d.day, 12),
                              class_hours=Decimal(hours), site_id=site.id))
    db.session.commit()
    return plan


def lessons_of(plan) -> list[Lesson]:
    return db.session.execute(db.select(Lesson).where(Lesson.plan_id == plan.id).order_by(Lesson.starts_at)).scalars().all()


def make_batch(user_id, region="3501", face_value=30000, payee="institution") -> VoucherBatch:
    batch = VoucherBatch(name="电工券", region_code=region, occupation_codes=["4-01-02-01"], institution_ids=None,
                         eligibility={}, quantity=100, remaining=90, face_value_fen=face_value,
                         claim_starts_at=sh(2026, 1, 1), claim_ends_at=sh(2026, 12, 31), valid_days=90,
                         funding_source="就业补助资金", payee=payee, status="published", created_by=user_id,
                         created_at=sh(2026, 1, 1), published_at=sh(2026, 1, 1))
    db.session.add(batch)
    db.session.commit()
    return batch


def give_voucher(batch, person_id, status="used") -> Voucher:
    v = Voucher(code=new_voucher_code(secrets.token_bytes(10)), batch_id=batch.id, person_id=person_id,
                status=status, claimed_at=sh(2026, 2, 1), expires_at=sh(2026, 5, 1),
                used_at=sh(2026, 2, 2) if status == "used" else None)
    db.session.add(v)
    db.session.commit()
    return v


def make_person(name, seq, birth="19900307", region="350102", groups=None):
    p = new_person(name, make_id_number(region, birth, seq), sh(2026, 1, 1), groups=groups)
    db.session.add(p)
    db.session.commit()
    return p


def enroll(plan, person_id, voucher=None, eligible=True, groups=None) -> Enrollment:
    e = Enrollment(plan_id=plan.id, person_id=person_id, voucher_id=voucher.id if voucher else None,
                   eligible=eligible, reasons=[] if eligible else ["age_out_of_range"], groups=groups or [],
                   created_at=sh(2026, 2, 2))
    db.session.add(e)
    db.session.commit()
    return e


def attend(lesson, person_id, check_in=True, check_out=True, flags=None):
    """Accepted kiosk check-in 5 min before start and check-out 5 min after end."""
    for kind, wanted, at in (("check_in", check_in, lesson.starts_at - timedelta(minutes=5)),
                             ("check_out", check_out, lesson.ends_at + timedelta(minutes=5))):
        if wanted:
            db.session.add(AttendanceEvent(origin=f"p{person_id}", event_id=str(uuid.uuid4()), person_id=person_id,
                                           lesson_id=lesson.id, kind=kind, source="kiosk", method="card+face",
                                           captured_at=at, received_at=at, accepted=True, details={},
                                           flags=list(flags or []), status_code=201))
    db.session.commit()


def reject(lesson, person_id, reason="out_of_fence"):
    """A rejected mobile check-in."""
    at = lesson.starts_at
    db.session.add(AttendanceEvent(origin=f"p{person_id}", event_id=str(uuid.uuid4()), person_id=person_id,
                                   lesson_id=lesson.id, kind="check_in", source="mobile", captured_at=at,
                                   received_at=at, accepted=False, reason=reason, details={}, flags=[],
                                   status_code=422))
    db.session.commit()


def prior_claim(inst, person_id, amount_fen, year=2026, status="approved"):
    """An earlier claim (another plan) already holding part of a person's annual cap."""
    plan = make_plan(inst, days=1, start=date(year, 1, 5), status="completed", title="早前培训")
    claim = SubsidyClaim(plan_id=plan.id, institution_id=inst.id, region_code=inst.region_code, status=status,
                         total_fen=amount_fen, explanations=[], created_at=sh(year, 1, 10),
                         approved_at=sh(year, 1, 11) if status != "submitted" else None)
    db.session.add(claim)
    db.session.flush()
    db.session.add(SubsidyLine(claim_id=claim.id, person_id=person_id, line_type="training",
                               credited_hours=Decimal(4), amount_fen=amount_fen, capped=False, limited_by="hours",
                               payee="institution", year=year))
    db.session.commit()
    return claim


def wechat_login(client, code) -> dict:
    r = client.post(f"{API}/auth/wechat", json={"code": code})
    assert r.status_code == 200
    return auth(r.get_json()["access_token"])


@pytest.fixture
def world(app, client, clock, staff, trainee, make_institution):
    """One plan of 3 × 4 class hours in 350102 with six trainees in every situation.

    A  voucher 30,000 (payee institution), full attendance, passes      → line 30,000 (voucher)
    B  no voucher, full attendance, passes                              → line 36,000 (hours)
    C  two of three lessons (8 h < 9.6 h), passes                       → not_completed
    D  full attendance, fails                                           → not_passed
    E  full attendance, passes, not eligible                            → certificate, no line
    F  voucher 50,000 (payee trainee), full, passes, 80,000 already     → line 20,000 (annual cap)
    """
    clock.set(sh(2026, 2, 1, 10))
    inst = make_institution("350102")
    sup1, sup1_h = staff("supervisor", region_code="3501")
    sup2, sup2_h = staff("supervisor", region_code="3501")
    _, inst_h = staff("institution", institution=inst)
    a_id, a_h = trainee(name="张三", id_number=make_id_number("350102", "19900307", "011"), code="world-a")
    c_id, c_h = trainee(name="李四", id_number=make_id_number("350102", "19850101", "022"), code="world-c")
    b = make_person("王五", "031", birth="20000101")
    d = make_person("赵六", "042", birth="19700101", region="110101")
    e = make_person("钱七", "051", birth="19950505")
    f = make_person("孙八", "061", birth="19800808", region="440304")
    site = make_site(inst)
    plan = make_plan(inst, site)
    batch = make_batch(sup1.id, face_value=30000)
    batch_t = make_batch(sup1.id, face_value=50000, payee="trainee")
    va = give_voucher(batch, a_id)
    vf = give_voucher(batch_t, f.id)
    enroll(plan, a_id, va)
    enroll(plan, b.id)
    enroll(plan, c_id)
    enroll(plan, d.id)
    enroll(plan, e.id, eligible=False)
    enroll(plan, f.id, vf)
    les = lessons_of(plan)
    for lesson in les:
        for pid in (a_id, b.id, d.id, e.id, f.id):
            attend(lesson, pid)
    attend(les[0], c_id)
    attend(les[1], c_id, flags=["low_accuracy_warn"])
    reject(les[2], c_id)
    prior_inst = make_institution("350203")
    prior_claim(prior_inst, f.id, 80000)
    return SimpleNamespace(inst=inst, plan=plan, lessons=les, sup1=sup1, sup1_h=sup1_h, sup2=sup2, sup2_h=sup2_h,
                           inst_h=inst_h, a=a_id, a_h=a_h, b=b.id, c=c_id, c_h=c_h, d=d.id, e=e.id, f=f.id,
                           va=va, vf=vf, batch=batch, batch_t=batch_t)


def all_results(w) -> list[dict]:
    """Results JSON rows: everybody passes except D."""
    rows = [{"person_id": w.a, "score": 88, "passed": True}, {"person_id": w.b, "score": 90.5, "passed": True},
            {"person_id": w.c, "score": 75, "passed": True}, {"person_id": w.d, "score": 40, "passed": False},
            {"person_id": w.e, "score": 70, "passed": True}, {"person_id": w.f, "score": 99, "passed": True}]
    return rows


def complete_and_approve(client, clock, w) -> dict:
    """Results in, completion applied for after the last lesson, approved by supervisor 1."""
    r = client.post(f"{API}/plans/{w.plan.id}/results", json={"results": all_results(w)}, headers=w.inst_h)
    assert r.status_code == 200, r.get_json()
    clock.set(sh(2026, 3, 5, 10))
    r = client.post(f"{API}/plans/{w.plan.id}/completion", headers=w.inst_h)
    assert r.status_code == 200, r.get_json()
    r = client.post(f"{API}/plans/{w.plan.id}/completion/approve", headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    return r.get_json()
