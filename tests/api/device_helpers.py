"""Test helpers: a site with a lesson in session, enrolled trainees, and signed kiosk requests."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from backend.domain.device_signature import signature_headers
from backend.extensions import db
from backend.models import Enrollment, Lesson, Site, TrainingPlan


def lesson_setup(institution, starts_at: datetime, hours: int = 3, people: tuple = ()) -> tuple[Site, Lesson]:
    """A site, an in-progress plan and one offline lesson starting at `starts_at`, with enrolments."""
    t = datetime.now(UTC)
    site = Site(institution_id=institution.id, name="实训基地", address="鼓楼区", lat=26.0785, lon=119.2965,
                radius_m=200, created_at=t)
    db.session.add(site)
    db.session.flush()
    plan = TrainingPlan(institution_id=institution.id, region_code=institution.region_code, title="计划",
                        occupation_code="4-03-02-01", plan_type="pre_job", delivery="offline",
                        starts_on=starts_at.date(), ends_on=starts_at.date() + timedelta(days=10),
                        status="approved", created_at=t)
    db.session.add(plan)
    db.session.flush()
    lesson = Lesson(plan_id=plan.id, title="实操课", mode="offline", starts_at=starts_at,
                    ends_at=starts_at + timedelta(hours=hours), class_hours=Decimal(hours), site_id=site.id)
    db.session.add(lesson)
    for pid in people:
        db.session.add(Enrollment(plan_id=plan.id, person_id=pid, status="active", eligible=True, reasons=[],
                                  groups=[], created_at=t))
    db.session.commit()
    return site, lesson


class SignedClient:
    """Sends kiosk requests signed with the device secret at the server clock's time."""

    def __init__(self, client, device_id: int, secret: str, clock):
        self.client, self.device_id, self.secret, self.clock = client, device_id, secret, clock

    def headers(self, method: str, path: str, body: bytes, **over) -> dict:
        """Signature headers for one request."""
        h = signature_headers(str(self.device_id), self.secret, method, path, body, self.clock().timestamp())
        h.update(over)
        return h

    def get(self, path: str, **over):
        """Signed GET (path includes the query string)."""
        return self.client.get(path, headers=self.headers("GET", path, b"", **over))

    def post(self, path: str, payload: dict, **over):
        """Signed JSON POST."""
        body = json.dumps(payload).encode()
        return self.client.post(path, data=body, content_type="application/json",
                                headers=self.headers("POST", path, body, **over))


def activate(client, staff, device_id: int, region_code: str = "3501") -> None:
    """A supervisor of the region activates a registered (pending) kiosk through the API."""
    _, sup = staff("supervisor", region_code=region_code)
    r = client.post(f"/api/v1/devices/{device_id}/activate", headers=sup)
    assert r.status_code == 200 and r.get_json()["status"] == "active", r.get_json()


def tiny_jpeg_base64(size: int = 24, shade: int = 128) -> str:
    """A small valid JPEG (a flat square) as base64: the face crop a kiosk sends with a face event."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), (shade, shade, shade)).save(buf, format="JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode()


FACE_CROP = tiny_jpeg_base64()


def sealed_pin(device_id: int, event_id: str, person_id: int, pin: str) -> str:
    """A PIN sealed as a kiosk seals it: to the server's key (as the manifest gives it), bound to the event."""
    from backend.domain.pin_seal import binding, seal
    from backend.services.pins import public_sealing_key
    return seal(public_sealing_key(), pin, binding(device_id, event_id, person_id))
