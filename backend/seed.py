"""Demo data: a Fuzhou district, one institution with a site, an approved plan with lessons today and
tomorrow, a published voucher batch, trainees bound to stub WeChat logins, and a kiosk."""
from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta
from decimal import Decimal

from werkzeug.security import generate_password_hash

from .clock import now
from .domain.attendance import SHANGHAI
from .domain.identity import id_check_digit
from .extensions import db
from .models import (
    Device,
    Enrollment,
    Institution,
    Lesson,
    Site,
    TrainingPlan,
    User,
    VoucherBatch,
    WechatAccount,
)
from .security.crypto import vault
from .services import audit, persons
from .unit_of_work import unit_of_work

DEMO_PASSWORD = "demo-pass-2026"
REGION = "350102"  # 福州市鼓楼区
TRAINEES = [("张三", "35010219900307", "13800000001"), ("李四", "35010219950815", "13800000002"),
            ("王五", "35010220000101", "13800000003")]


def demo_id(prefix17_without_seq: str, seq: str = "123") -> str:
    """A valid demo ID number from region+birth date and a sequence (check digit computed)."""
    first17 = prefix17_without_seq + seq
    return first17 + id_check_digit(first17)


def seed_demo(if_empty: bool = False) -> list[str] | None:
    """Insert the demo data; returns the login lines, or None when skipped."""
    with unit_of_work():
        return _seed_demo(if_empty)


def _seed_demo(if_empty: bool = False) -> list[str] | None:
    if if_empty and db.session.execute(db.select(User.id).limit(1)).scalar():
        return None
    t = now()
    inst = Institution(name="福州市鼓楼区职业技能培训学校", credit_code="91350100M000100Y43", region_code=REGION,
                       kind="training_org", status="approved", created_at=t)
    db.session.add(inst)
    db.session.flush()
    pw = generate_password_hash(DEMO_PASSWORD)
    users = [User(username="admin", password_hash=pw, role="admin", created_at=t),
             User(username="supervisor", password_hash=pw, role="supervisor", region_code="3501", created_at=t),
             User(username="supervisor2", password_hash=pw, role="supervisor", region_code="3501", created_at=t),
             User(username="school", password_hash=pw, role="institution", institution_id=inst.id,
                  region_code=REGION, created_at=t)]
    db.session.add_all(users)
    # 鼓楼区 near Wuyi Square (WGS-84).
    site = Site(institution_id=inst.id, name="鼓楼实训基地", address="福州市鼓楼区五一北路1号", lat=26.0785,
                lon=119.2965, radius_m=200, created_at=t)
    db.session.add(site)
    db.session.flush()
    today = t.astimezone(SHANGHAI).date()
    plan = TrainingPlan(institution_id=inst.id, region_code=REGION, title="中式烹调师（初级）岗前培训",
                        occupation_code="4-03-02-01", plan_type="pre_job", delivery="offline",
                        starts_on=today, ends_on=today + timedelta(days=30), status="approved",
                        reviewed_by=users[1].id, reviewed_at=t, created_at=t)
    db.session.add(plan)
    db.session.flush()
    for day in (0, 1, 2):
        d = today + timedelta(days=day)
        for start_h, title in ((9, "上午理论课"), (14, "下午实操课")):
            starts = datetime.combine(d, time(start_h, 0), SHANGHAI)
            db.session.add(Lesson(plan_id=plan.id, title=f"{title}（第{day + 1}天）", mode="offline",
                                  starts_at=starts, ends_at=starts + timedelta(hours=3),
                                  class_hours=Decimal(4), site_id=site.id))
    lines = [f"admin / {DEMO_PASSWORD} (管理员)", f"supervisor / {DEMO_PASSWORD} (人社监管, 3501)",
             f"supervisor2 / {DEMO_PASSWORD} (第二审核人, 3501)", f"school / {DEMO_PASSWORD} (培训机构)"]
    for i, (name, prefix, phone) in enumerate(TRAINEES, start=1):
        person = persons.new_person(name, demo_id(prefix, f"{i:02d}3"), t, phone, ["unemployed"])
        db.session.add(person)
        db.session.flush()
        db.session.add(WechatAccount(openid=f"stub-demo{i}", person_id=person.id, created_at=t, bound_at=t))
        db.session.add(Enrollment(plan_id=plan.id, person_id=person.id, status="active", eligible=True,
                                  reasons=[], phone=phone, groups=["unemployed"], created_at=t))
        lines.append(f"学员 {name}: 微信登录 code = demo{i}")
    db.session.add(VoucherBatch(name="2026年福州市职业技能培训券（烹饪）", region_code="3501",
                                occupation_codes=["4-03-02-01", "4-03-02-02"], institution_ids=None,
                                eligibility={"groups": None, "age_min": 16, "age_max": 60, "household_regions": None},
                                quantity=100, remaining=100, face_value_fen=150000, claim_starts_at=t - timedelta(days=1),
                                claim_ends_at=t + timedelta(days=60), valid_days=90, funding_source="就业补助资金",
                                claim_requires_face=False, payee="institution", status="published",
                                created_by=users[1].id, created_at=t, published_at=t))
    secret = secrets.token_urlsafe(32)
    device = Device(institution_id=inst.id, site_id=site.id, name="鼓楼实训基地-1号考勤机",
                    secret_enc=vault().encrypt_text(secret, "devices.secret"), created_at=t, status="active",
                    created_by=users[3].id, activated_by=users[1].id, activated_at=t)
    db.session.add(device)
    db.session.flush()
    audit.record("cli:seed", "seed.demo", "institution", inst.id, t, after={"plan_id": plan.id})
    lines.append(f"考勤机 device_id = {device.id}, secret = {secret}")
    return lines
