"""The kiosk quick start on the demo data: a lesson in session now, PINs and a face for the demo
trainees, an active kiosk and a ready-to-run kiosk config with fake devices (`flask demo-kiosk`).

Everything is relative to the server's clock at the time the command runs, so the quick start works
whenever it is tried, not only within the demo lessons' hours of the first days after seeding.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path

from .domain.attendance import SHANGHAI
from .domain.plans import RUNNING_STATES
from .extensions import db
from .models import Device, Enrollment, Institution, Lesson, Person, Site, TrainingPlan, User
from .security.crypto import vault
from .services import audit
from .services.persons import ID_CONTEXT
from .unit_of_work import unit_of_work

DEMO_CREDIT_CODE = "91350100M000100Y43"  # the demo institution of backend/seed.py
# Not "simple" (backend/domain/pins.py refuses repeated or consecutive digits), easy to type in a demo.
DEMO_PINS = ("246810", "135792", "975318")
ACTOR = "cli:demo-kiosk"


class DemoMissing(LookupError):
    """The demo data (flask seed-demo) is not in this database."""


@dataclass
class DemoCard:
    """One demo trainee as the kiosk sees them."""

    name: str
    id_number: str
    pin: str
    face: bool


@dataclass
class KioskDemo:
    """What `seed_kiosk_demo` made: the kiosk, its files, the lesson and the cards to scan."""

    device_id: int
    config_path: Path
    secret_path: Path
    lesson_title: str
    starts_at: datetime
    ends_at: datetime
    cards: list[DemoCard] = field(default_factory=list)


def _lesson_in_session(site: Site, plan: TrainingPlan, t: datetime) -> Lesson:
    """A lesson of the demo plan in session at `t` (reused if one is), else a new one from ten minutes ago
    (never before today's Shanghai midnight, so it stays today's lesson) for three hours."""
    lesson = db.session.execute(
        db.select(Lesson).where(Lesson.site_id == site.id, Lesson.plan_id == plan.id, Lesson.mode == "offline",
                                Lesson.starts_at <= t, Lesson.ends_at > t + timedelta(minutes=30))
        .order_by(Lesson.starts_at)).scalars().first()
    if lesson is not None:
        return lesson
    midnight = datetime.combine(t.astimezone(SHANGHAI).date(), dtime(0, 0), SHANGHAI)
    starts = max(t - timedelta(minutes=10), midnight)
    lesson = Lesson(plan_id=plan.id, title="现场演示课（考勤机）", mode="offline", starts_at=starts,
                    ends_at=starts + timedelta(hours=3), class_hours=Decimal(3), site_id=site.id)
    db.session.add(lesson)
    if plan.ends_on < t.astimezone(SHANGHAI).date():
        plan.ends_on = t.astimezone(SHANGHAI).date() + timedelta(days=30)  # a demo run long after seeding
    db.session.flush()
    return lesson


def _config_text(server_url: str, device_id: int, secret_path: Path, data_dir: Path, camera: str) -> str:
    return f"""# Kiosk quick start with fake devices (written by `flask --app backend demo-kiosk`).
# Type a card number (ID number) on the terminal to scan a card; type the PIN when asked.
[server]
url = "{server_url}"
device_id = "{device_id}"
device_secret_file = "{secret_path}"

[kiosk]
data_dir = "{data_dir}"
status_port = 8765
# The demo camera replays one still photo, which the liveness check rightly refuses (a photo does not
# turn its head), so it is off here; with a real camera keep the default (true): kiosk/kiosk.example.toml.
liveness = false

[devices]
card = "stdin:"        # a typed ID number is a card scan
qr = "stdin:"          # any other typed line is a QR scan
pinpad = "console:"    # typed while a PIN is asked
camera = "{camera}"    # replays the demo face photo ("" = card + PIN only)
"""


def seed_kiosk_demo(t: datetime, out_dir: Path, server_url: str, face_rgb=None) -> KioskDemo:
    """Prepare the kiosk quick start at server time `t`; `face_rgb` (an RGB array) becomes the first
    demo trainee's enrolled face and the fake camera's picture."""
    with unit_of_work():
        return _seed_kiosk_demo(t, out_dir, server_url, face_rgb)


def _seed_kiosk_demo(t: datetime, out_dir: Path, server_url: str, face_rgb=None) -> KioskDemo:
    inst = db.session.execute(db.select(Institution).where(Institution.credit_code == DEMO_CREDIT_CODE)) \
        .scalar_one_or_none()
    if inst is None:
        raise DemoMissing("no demo data: run `flask --app backend seed-demo` first")
    site = db.session.execute(db.select(Site).where(Site.institution_id == inst.id).order_by(Site.id)).scalars().first()
    plan = db.session.execute(db.select(TrainingPlan).where(TrainingPlan.institution_id == inst.id,
                                                            TrainingPlan.status.in_(RUNNING_STATES))
                              .order_by(TrainingPlan.id)).scalars().first()
    staff = db.session.execute(db.select(User).where(User.institution_id == inst.id)).scalars().first()
    supervisor = db.session.execute(db.select(User).where(User.role == "supervisor",
                                                          User.region_code == inst.region_code[:4])
                                    .order_by(User.id)).scalars().first()
    if site is None or plan is None or staff is None or supervisor is None:
        raise DemoMissing("the demo institution has no site, running plan, staff or supervisor")
    lesson = _lesson_in_session(site, plan, t)

    from .services.pins import set_pin
    people = db.session.execute(
        db.select(Person).join(Enrollment, Enrollment.person_id == Person.id)
        .where(Enrollment.plan_id == plan.id, Enrollment.status == "active").order_by(Person.id)).scalars().all()
    cards = []
    for i, person in enumerate(people[:len(DEMO_PINS)]):
        set_pin(person, DEMO_PINS[i], ACTOR, t)
        face = False
        if i == 0 and face_rgb is not None:
            from .faces import enroll_template
            from .services.faces import enroll
            enroll(person, enroll_template(face_rgb), ACTOR, t, "institution")
            face = True
        # Demo people only: the card number a technician types is the (invented) ID number.
        cards.append(DemoCard(person.name, vault().decrypt_text(person.id_number_enc, ID_CONTEXT), DEMO_PINS[i], face))

    secret = secrets.token_urlsafe(32)
    device = Device(institution_id=inst.id, site_id=site.id, name=f"演示考勤机 {t.astimezone(SHANGHAI):%m-%d %H:%M}",
                    secret_enc=vault().encrypt_text(secret, "devices.secret"), created_at=t, status="active",
                    created_by=staff.id, activated_by=supervisor.id, activated_at=t)
    db.session.add(device)
    db.session.flush()
    audit.record(ACTOR, "device.demo", "device", device.id, t, after={"lesson_id": lesson.id})

    out_dir.mkdir(parents=True, exist_ok=True)
    secret_path = out_dir / "device.secret"
    # Created with 0600 from the start: the secret never sits in a world-readable file, even briefly.
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    camera = ""
    if face_rgb is not None:
        from PIL import Image
        frames = out_dir / "frames"
        frames.mkdir(exist_ok=True)
        Image.fromarray(face_rgb).save(frames / "frame-001.png")
        camera = f"dir:{frames}"
    config_path = out_dir / "kiosk.toml"
    config_path.write_text(_config_text(server_url, device.id, secret_path, out_dir / "data", camera),
                           encoding="utf-8")
    return KioskDemo(device.id, config_path, secret_path, lesson.title, lesson.starts_at, lesson.ends_at, cards)
