"""A real HTTP server for the browser tests: the app on a fresh SQLite file (with TEST_DB=postgres a fresh
PostgreSQL database), seeded like
`flask seed-demo`, plus a lesson in session right now (the server clock is the wall clock), a
rostered trainee who has not bound WeChat yet, so a test can walk login → bind → check-in, and the
extra state of demo_data (queues to review, check-ins to plot, a completion whose trainees carry trust
flags).

`python -m tests.e2e.server` runs the same server in the foreground for looking at the pages.
"""
from __future__ import annotations

import os
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, text
from werkzeug.serving import WSGIRequestHandler, make_server

from backend import create_app
from backend.domain.attendance import SHANGHAI
from backend.extensions import db
from tests.conftest import _pg_url

from . import demo_data

KEYS = {"SECRET_KEY": "e2e-secret-key-0123456789abcdef0123456789ab",
        "DATA_KEY": "e2e-data-key-0123456789abcdef0123456789abcd"}

# The rostered trainee the browser binds: on the demo plan's roster, no WeChat account yet.
NEW_TRAINEE = {"name": "赵六", "birth": "19880520", "seq": "045", "phone": "13800000009"}
# Known from an earlier plan with the phone an institution recorded, no WeChat account: the code step.
CODE_TRAINEE = {"name": "孙七", "birth": "19920811", "seq": "067", "phone": "13800000017"}
# A short resend window so a browser test can wait it out (the default is 60 s).
RESEND_S = 3
SITE = {"lat": 26.0785, "lon": 119.2965, "radius_m": 200}


@dataclass
class Seeded:
    """What the tests need to know about the seeded data."""

    plan_id: int
    lesson_id: int
    site: dict
    trainee_id_number: str
    code_trainee_id_number: str
    flagged: dict  # demo_data.flagged_completion(): the plan awaiting review with trust flags


def seed(app) -> Seeded:
    """seed_demo() plus a lesson in session now and an unbound rostered trainee."""
    from backend.models import Enrollment, Lesson, Site, TrainingPlan, WechatAccount
    from backend.seed import REGION, demo_id, seed_demo
    from backend.services import persons

    with app.app_context():
        db.create_all()
        seed_demo()
        t = datetime.now(UTC)
        plan = db.session.execute(db.select(TrainingPlan)).scalars().first()
        site = db.session.execute(db.select(Site)).scalars().first()
        # Started ten minutes ago (never before today's midnight, so it stays "today's" lesson).
        midnight = datetime.combine(t.astimezone(SHANGHAI).date(), time(0, 0), SHANGHAI)
        starts = max(t - timedelta(minutes=10), midnight)
        lesson = Lesson(plan_id=plan.id, title="安全操作规范（当前课次）", mode="offline", starts_at=starts,
                        ends_at=starts + timedelta(hours=3), class_hours=Decimal(4), site_id=site.id)
        db.session.add(lesson)
        id_number = demo_id(REGION + NEW_TRAINEE["birth"], NEW_TRAINEE["seq"])
        person = persons.new_person(NEW_TRAINEE["name"], id_number, t, NEW_TRAINEE["phone"], ["unemployed"])
        db.session.add(person)
        db.session.flush()
        db.session.add(Enrollment(plan_id=plan.id, person_id=person.id, status="active", eligible=True, reasons=[],
                                  phone=NEW_TRAINEE["phone"], groups=["unemployed"], created_at=t))
        code_id_number = demo_id(REGION + CODE_TRAINEE["birth"], CODE_TRAINEE["seq"])
        db.session.add(persons.new_person(CODE_TRAINEE["name"], code_id_number, t, CODE_TRAINEE["phone"], ["migrant_worker"]))
        db.session.commit()
        demo = dict(db.session.execute(db.select(WechatAccount.openid, WechatAccount.person_id)).all())
        demo_data.inserted(plan, [demo["stub-demo2"], demo["stub-demo3"]])
        demo_data.through_api(app, lesson.id, site.id, demo["stub-demo3"])
        flagged = demo_data.flagged_completion(plan, site.id)
        out = Seeded(plan_id=plan.id, lesson_id=lesson.id,
                     site={"lat": site.lat, "lon": site.lon, "radius_m": site.radius_m}, trainee_id_number=id_number,
                     code_trainee_id_number=code_id_number,
                     flagged=flagged)
        db.session.remove()
        return out


class QuietHandler(WSGIRequestHandler):
    """No access log lines in the test output."""

    def log_request(self, code="-", size="-") -> None:
        """Skip."""


def _database_url(workdir: Path) -> tuple[str, str | None]:
    """(URL, throwaway PostgreSQL database name or None): a fresh SQLite file, or with TEST_DB=postgres a
    database of its own next to TEST_DATABASE_URL's, so the journeys run on both databases."""
    if os.environ.get("TEST_DB") != "postgres":
        return f"sqlite:///{workdir / 'e2e.db'}", None
    base = _pg_url(os.environ["TEST_DATABASE_URL"])
    name = f"test_e2e_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name, name


class LiveServer:
    """The app served by werkzeug in a background thread on a free port."""

    def __init__(self, workdir: Path):
        url, self.pg_database = _database_url(workdir)
        self.app = create_app(dict(KEYS, SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False,
                                   ACCESS_LOG=False, UPLOAD_DIR=str(workdir / "uploads"), SMS_RESEND_S=RESEND_S))
        self.seeded = seed(self.app)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="e2e-server", daemon=True)

    def start(self) -> LiveServer:
        """Begin serving."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the database."""
        self.server.shutdown()
        self.thread.join(timeout=10)
        with self.app.app_context():
            db.engine.dispose()
        if self.pg_database:
            admin = create_engine(_pg_url(os.environ["TEST_DATABASE_URL"]), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    srv = LiveServer(Path(tempfile.mkdtemp(prefix="e2e-"))).start()
    print(f"serving {srv.url}  (plan {srv.seeded.plan_id}, lesson {srv.seeded.lesson_id}, "
          f"bind as {NEW_TRAINEE['name']} {srv.seeded.trainee_id_number})", flush=True)
    try:
        srv.thread.join()
    except KeyboardInterrupt:
        srv.stop()
