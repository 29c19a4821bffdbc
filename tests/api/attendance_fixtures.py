"""Fixtures for the attendance, make-up and live tests: a site, an approved plan, lessons, trainees.

Import the fixtures into a test module (`from tests.api.attendance_fixtures import world, long_tokens`).
"""
from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from backend.extensions import db
from backend.models import AttendanceEvent, Enrollment, Lesson, Site, TrainingPlan

# 2026-03-10 08:00 Asia/Shanghai; the default lesson runs 09:00-11:00 (01:00-03:00 UTC).
BASE = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
START = BASE + timedelta(hours=1)
END = START + timedelta(hours=2)
SITE = (26.0745, 119.2965)  # Fuzhou, WGS-84
INSIDE = (SITE[0] + 0.0004, SITE[1])  # ~44 m north of the site
_SEQ = itertools.count()


@pytest.fixture(autouse=True)
def long_tokens(app_config, clock):
    """Freeze the clock before anything logs in, and keep access tokens valid across clock jumps."""
    clock.set(BASE)
    app_config["ACCESS_TOKEN_MINUTES"] = 60 * 24 * 30
    return app_config


class World:
    """One institution with a site and an approved plan in 350102, and helpers to act in it."""

    def __init__(self, client, clock, make_institution, trainee, staff, region="350102"):
        self.client, self.clock, self._trainee, self._staff = client, clock, trainee, staff
        self.inst = make_institution(region)
        self.site = self.add_site(*SITE)
        self.plan = TrainingPlan(institution_id=self.inst.id, region_code=region, title="中式烹调师",
                                 occupation_code="4-03-02-01", plan_type="pre_job", delivery="blended",
                                 starts_on=BASE.date(), ends_on=BASE.date() + timedelta(days=30),
                                 status="approved", created_at=BASE)
        db.session.add(self.plan)
        db.session.commit()
        self.lesson = self.add_lesson()

    def add_site(self, lat, lon, radius_m=200, require_site_qr=False) -> Site:
        """A site of the institution."""
        site = Site(institution_id=self.inst.id, name=f"实训基地{uuid.uuid4().hex[:4]}", address="福州市鼓楼区",
                    lat=lat, lon=lon, radius_m=radius_m, require_site_qr=require_site_qr, created_at=BASE)
        db.session.add(site)
        db.session.commit()
        return site

    def add_lesson(self, starts_at=START, hours=2, mode="offline", site=None, class_hours="2",
                   require_site_qr=False) -> Lesson:
        """A lesson of the plan."""
        lesson = Lesson(plan_id=self.plan.id, title="理论课", mode=mode, starts_at=starts_at,
                        ends_at=starts_at + timedelta(hours=hours), class_hours=Decimal(class_hours),
                        site_id=(site or self.site).id if mode == "offline" else None,
                        require_site_qr=require_site_qr)
        db.session.add(lesson)
        db.session.commit()
        return lesson

    def person(self, name="张三", enroll=True, plan=None):
        """A bound trainee (enrolled in the plan unless told otherwise): (person_id, headers)."""
        from tests.conftest import make_id_number
        pid, headers = self._trainee(name=name, id_number=make_id_number(seq=f"{next(_SEQ) % 900 + 100:03d}"))
        if enroll:
            self.enroll(pid, plan)
        return pid, headers

    def enroll(self, person_id, plan=None):
        """Put a person on a plan's roster."""
        db.session.add(Enrollment(plan_id=(plan or self.plan).id, person_id=person_id, status="active",
                                  created_at=BASE))
        db.session.commit()

    def staff(self, role="institution", region_code="3501"):
        """A staff user of this institution (institution role) or a supervisor: (user, headers)."""
        if role == "institution":
            return self._staff("institution", institution=self.inst)
        return self._staff(role, region_code=region_code)

    def post(self, headers, lesson=None, kind="check_in", at=INSIDE, accuracy_m=10.0, coord_sys="wgs84",
             event_id=None, site_token=None, extra_headers=None, **overrides):
        """POST /attendance; returns the response."""
        body = {"event_id": event_id or str(uuid.uuid4()), "lesson_id": (lesson or self.lesson).id, "kind": kind,
                "lat": at[0], "lon": at[1], "accuracy_m": accuracy_m, "coord_sys": coord_sys,
                "client_time": self.clock().isoformat()}
        if site_token is not None:
            body["site_token"] = site_token
        body.update(overrides)
        return self.client.post("/api/v1/attendance", json=body, headers={**headers, **(extra_headers or {})})


@pytest.fixture
def world(client, clock, make_institution, trainee, staff):
    """A World to build attendance scenarios in."""
    return World(client, clock, make_institution, trainee, staff)


def events(**where) -> list[AttendanceEvent]:
    """Stored attendance events matching column values, oldest first."""
    db.session.expire_all()
    stmt = db.select(AttendanceEvent).order_by(AttendanceEvent.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(AttendanceEvent, key) == value)
    return list(db.session.execute(stmt).scalars())
