"""Helpers for plan, lesson and roster tests: a fixed calendar and one-call set-ups through the API."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from backend.domain.plans import SHANGHAI

API = "/api/v1"
# The tests live on 2026-03-01 10:00 Shanghai; plans run 2026-03-10 .. 2026-03-20.
NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
STARTS_ON = date(2026, 3, 10)
ENDS_ON = date(2026, 3, 20)
FUZHOU_WGS = (26.0785, 119.2965)


def sh(day: date | int, hour: int, minute: int = 0) -> datetime:
    """An Asia/Shanghai moment on a plan day (int = day of March 2026)."""
    d = date(2026, 3, day) if isinstance(day, int) else day
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=SHANGHAI)


def iso(moment: datetime) -> str:
    """ISO 8601 with the Shanghai offset, as clients send lesson times."""
    return moment.astimezone(SHANGHAI).isoformat()


def make_site(client, headers, **over) -> dict:
    """POST /sites (WGS-84 Fuzhou by default)."""
    body = {"name": "鼓楼实训基地", "address": "福州市鼓楼区五一北路1号", "lat": FUZHOU_WGS[0],
            "lon": FUZHOU_WGS[1], "coord_sys": "wgs84", "radius_m": 200}
    body.update(over)
    r = client.post(f"{API}/sites", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def plan_body(**over) -> dict:
    """A valid POST /plans body."""
    body = {"title": "中式烹调师（初级）岗前培训", "occupation_code": "4-03-02-01", "plan_type": "pre_job",
            "delivery": "offline", "starts_on": STARTS_ON.isoformat(), "ends_on": ENDS_ON.isoformat()}
    body.update(over)
    return body


def make_plan(client, headers, **over) -> dict:
    """POST /plans."""
    r = client.post(f"{API}/plans", json=plan_body(**over), headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def lesson_body(day: int = 10, start_h: int = 9, hours: float = 4, duration_min: int = 180, mode: str = "offline",
                site_id: int | None = None, **over) -> dict:
    """A POST /plans/{id}/lessons body (3 h = 4 class hours by default)."""
    start = sh(day, start_h)
    body = {"title": f"第{day}日 {start_h}点", "mode": mode, "starts_at": iso(start),
            "ends_at": iso(start + timedelta(minutes=duration_min)), "class_hours": hours}
    if site_id is not None:
        body["site_id"] = site_id
    body.update(over)
    return body


def add_lesson(client, headers, plan_id: int, **kw) -> dict:
    """POST /plans/{id}/lessons, asserting 201."""
    r = client.post(f"{API}/plans/{plan_id}/lessons", json=lesson_body(**kw), headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def login(client, user) -> dict:
    """Fresh bearer headers for a staff user of the `staff` fixture (after the clock moved)."""
    r = client.post(f"{API}/auth/login", json={"username": user.username, "password": "password-123"})
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['access_token']}"}


def post(client, path: str, headers, **kw):
    """POST under the API prefix."""
    return client.post(API + path, headers=headers, **kw)


def err(r) -> str:
    """The error code of a response."""
    return (r.get_json() or {}).get("error", {}).get("code")


_SEQ = iter(range(100, 1000))


def add_trainee(client, headers, plan_id: int, name: str = "赵六") -> dict:
    """Import one trainee on the plan's roster (JSON): a plan is filed with its roster (409 roster_empty)."""
    from tests.conftest import make_id_number
    row = {"name": name, "id_number": make_id_number("350102", "19880808", f"{next(_SEQ):03d}")}
    r = client.post(f"{API}/plans/{plan_id}/roster", json={"trainees": [row]}, headers=headers)
    assert r.status_code == 200 and r.get_json()["imported"] == 1, r.get_json()
    return row


def submit(client, headers, plan_id: int):
    """POST /plans/{id}/submit with a trainee on the roster (imported here when the roster is empty)."""
    from backend.extensions import db
    from backend.models import Enrollment
    if not db.session.execute(db.select(Enrollment.id).where(Enrollment.plan_id == plan_id)).first():
        add_trainee(client, headers, plan_id)
    return post(client, f"/plans/{plan_id}/submit", headers)


def approved_plan(client, inst_h, sup_h, site_id: int, lessons: int = 2, **plan_over) -> dict:
    """A plan with `lessons` offline lessons (days 10, 11 …), submitted and approved."""
    plan = make_plan(client, inst_h, **plan_over)
    for i in range(lessons):
        add_lesson(client, inst_h, plan["id"], day=10 + i, site_id=site_id)
    r = submit(client, inst_h, plan["id"])
    assert r.status_code == 200, r.get_json()
    r = post(client, f"/plans/{plan['id']}/approve", sup_h)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def make_person(name: str, id_number: str, phone: str | None = None, groups=None):
    """A person inserted directly (as if known from an earlier plan or a WeChat binding)."""
    from backend.extensions import db
    from backend.services.persons import new_person
    person = new_person(name, id_number, NOW, phone, groups)
    db.session.add(person)
    db.session.commit()
    return person


def make_voucher(person_id: int, occupation_codes=("4-03-02-01",), region_code: str = "3501",
                 eligibility: dict | None = None, institution_ids=None, status: str = "claimed",
                 code_enrollment_allowed: bool = True):
    """A published batch with one voucher claimed by `person_id`; returns the Voucher.

    The batch allows enrolment by the bare code unless told otherwise, so tests of other voucher rules
    can use codes; tests/api/test_voucher_code_enrollment.py covers the default refusal.
    """
    import secrets

    from backend.domain.vouchers import new_voucher_code
    from backend.extensions import db
    from backend.models import User, Voucher, VoucherBatch
    creator = db.session.execute(db.select(User.id).limit(1)).scalar()
    batch = VoucherBatch(name="福州市职业技能培训券", region_code=region_code, occupation_codes=list(occupation_codes),
                         institution_ids=institution_ids, eligibility=eligibility or {}, quantity=10, remaining=9,
                         face_value_fen=150000, claim_starts_at=NOW - timedelta(days=10),
                         claim_ends_at=NOW + timedelta(days=60), valid_days=90, funding_source="就业补助资金",
                         claim_requires_face=False, payee="institution", status="published", created_by=creator,
                         created_at=NOW - timedelta(days=10), published_at=NOW - timedelta(days=10),
                         code_enrollment_allowed=code_enrollment_allowed)
    db.session.add(batch)
    db.session.flush()
    voucher = Voucher(code=new_voucher_code(secrets.token_bytes(10)), batch_id=batch.id, person_id=person_id,
                      status=status, claimed_at=NOW - timedelta(days=1), expires_at=NOW + timedelta(days=89))
    db.session.add(voucher)
    db.session.commit()
    return voucher


def roster_world(clock, staff, client, make_institution) -> dict:
    """Clock at NOW; a Fuzhou institution (user, headers), a supervisor, a site and a draft plan with one lesson."""
    clock.set(NOW)
    inst = make_institution("350102")
    user, inst_h = staff("institution", institution=inst)
    _, sup_h = staff("supervisor", region_code="3501")
    site = make_site(client, inst_h)
    plan = make_plan(client, inst_h)
    add_lesson(client, inst_h, plan["id"], site_id=site["id"])
    return {"inst": inst, "inst_user": user, "inst_h": inst_h, "sup_h": sup_h, "site": site["id"], "plan": plan}
