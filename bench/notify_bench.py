"""Time the notification scheduler finding and queuing the reminders of 100,000 vouchers and 10,000 lessons.

Run: .venv/bin/python bench/notify_bench.py [--vouchers 100000] [--plans 1000] [--database-url URL] [--naive]

Data (inserted with Core executemany, not timed): 20,000 persons; 100,000 claimed vouchers over 5 batches
expiring evenly over the next 90 days; 1,000 plans of 10 daily 09:00-12:00 lessons (10,000 lessons) starting
evenly over the next 90 days and the past 10, 20 trainees each. The clock is 10:00 Shanghai, so the lessons
of today are running (nobody checked in: missed check-ins), tomorrow's are a day ahead (reminders), and
plans whose lessons ended in the last two days are judged for absence risk.

Timed: `queue_due` (every kind: find + render + INSERT ... ON CONFLICT DO NOTHING) and its commit, cold;
then again with nothing new (the steady state every minute); then `route_new` for the queued rows.
Statements are counted with SQLAlchemy's before_cursor_execute (an executemany counts once).
With --naive, the same voucher reminders found the way a per-row loop would (one existence query per
voucher in the window), as the baseline. Default database: a fresh SQLite file in a temporary directory;
a PostgreSQL URL must name a database this script may fill (its tables are created and dropped).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, func, insert, select  # noqa: E402

from backend import create_app  # noqa: E402
from backend.domain import notifications as rules  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.models import (  # noqa: E402
    Enrollment,
    Institution,
    Lesson,
    Notification,
    NotificationDelivery,
    Person,
    Site,
    TrainingPlan,
    User,
    Voucher,
    VoucherBatch,
)
from backend.services.notify_delivery import route_new  # noqa: E402
from backend.services.notify_scan import queue_due  # noqa: E402

KEYS = {"SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
        "DATA_KEY": "bench-data-key-0123456789abcdef0123456789abc"}
SH = rules.SHANGHAI
NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
PERSONS = 20_000
BATCHES = 5
LESSONS_PER_PLAN = 10
TRAINEES_PER_PLAN = 20
CHUNK = 5_000


def _insert(table, rows: list[dict]) -> None:
    for i in range(0, len(rows), CHUNK):
        db.session.execute(insert(table), rows[i:i + CHUNK])


def seed(vouchers: int, plans: int) -> None:
    """The data described in the module docstring, committed."""
    t0 = NOW - timedelta(days=100)
    user = User(username="bench-boss", password_hash="x", role="supervisor", region_code="3501", created_at=t0)
    inst = Institution(name="基准机构", credit_code="91350102MA2XXXXX0X", region_code="350102", kind="training_org",
                       status="approved", created_at=t0)
    db.session.add_all([user, inst])
    db.session.flush()
    site = Site(institution_id=inst.id, name="鼓楼实训基地", address="福州", lat=26.0785, lon=119.2965, radius_m=200,
                created_at=t0)
    db.session.add(site)
    db.session.flush()
    _insert(Person.__table__, [{
        "id": i, "name": "学员", "id_number_enc": b"x", "id_number_index": f"bench-{i}", "id_number_masked": "3501**",
        "birth_date": date(1990, 1, 1), "gender": "male", "household_region": "350102",
        "phone": f"139{i:08d}", "groups": [], "pin_failures": 0, "created_at": t0} for i in range(1, PERSONS + 1)])
    batch_ids = []
    for b in range(BATCHES):
        batch = VoucherBatch(name=f"电工券{b}", region_code="350100", occupation_codes=["6-31-01-03"],
                             institution_ids=None, eligibility={}, quantity=vouchers, remaining=0,
                             face_value_fen=100000, claim_starts_at=t0, claim_ends_at=NOW + timedelta(days=30),
                             valid_days=90, funding_source="就业补助资金", status="published", created_by=user.id,
                             created_at=t0, published_at=t0)
        db.session.add(batch)
        db.session.flush()
        batch_ids.append(batch.id)
    span = timedelta(days=90).total_seconds()
    _insert(Voucher.__table__, [{
        "code": f"B{i:012d}", "batch_id": batch_ids[i % BATCHES], "person_id": (i // BATCHES) % PERSONS + 1,
        "status": "claimed", "claimed_at": t0, "expires_at": NOW + timedelta(seconds=3600 + span * i / vouchers)}
        for i in range(vouchers)])
    plan_rows, lesson_rows, enrol_rows = [], [], []
    for p in range(1, plans + 1):
        first = (NOW.astimezone(SH) + timedelta(days=-10 + 100 * (p - 1) // plans)).date()
        plan_rows.append({"id": p, "institution_id": inst.id, "region_code": "350102", "title": f"电工培训{p}期",
                          "occupation_code": "6-31-01-03", "plan_type": "pre_job", "delivery": "offline",
                          "starts_on": first, "ends_on": first + timedelta(days=LESSONS_PER_PLAN - 1),
                          "status": "in_progress", "created_at": t0})
        for k in range(LESSONS_PER_PLAN):
            d = first + timedelta(days=k)
            starts = datetime(d.year, d.month, d.day, 9, tzinfo=SH)
            lesson_rows.append({"plan_id": p, "title": f"第{k + 1}课", "mode": "offline", "starts_at": starts,
                                "ends_at": starts + timedelta(hours=3), "class_hours": Decimal(4), "site_id": site.id,
                                "require_site_qr": False})
        for j in range(TRAINEES_PER_PLAN):
            enrol_rows.append({"plan_id": p, "person_id": (p * TRAINEES_PER_PLAN + j) % PERSONS + 1, "status": "active",
                               "eligible": True, "reasons": [], "groups": [], "created_at": t0})
    _insert(TrainingPlan.__table__, plan_rows)
    _insert(Lesson.__table__, lesson_rows)
    _insert(Enrollment.__table__, enrol_rows)
    db.session.commit()


class Counter:
    """Counts the statements sent to the database while active."""

    def __init__(self, engine):
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._count)
        self.engine = engine

    def _count(self, *args):
        self.n += 1

    def close(self):
        """Stop counting."""
        event.remove(self.engine, "before_cursor_execute", self._count)


def timed(fn):
    """(seconds, statements, result) of fn() followed by a commit."""
    c = Counter(db.engine)
    t = time.perf_counter()
    result = fn()
    db.session.commit()
    elapsed = time.perf_counter() - t
    c.close()
    return elapsed, c.n, result


def naive_vouchers() -> int:
    """Baseline: every claimed voucher loaded, the window decided in Python, one existence query per due one."""
    due = 0
    for vid, person_id, expires_at in db.session.execute(
            select(Voucher.id, Voucher.person_id, Voucher.expires_at).where(Voucher.status == "claimed")):
        window = rules.voucher_expiry_window(expires_at, NOW)
        if window and not db.session.execute(select(Notification.id).where(
                Notification.person_id == person_id, Notification.kind == rules.VOUCHER_EXPIRING,
                Notification.object_type == "voucher", Notification.object_id == vid,
                Notification.window_key == window)).first():
            due += 1
    return due


def main() -> None:
    """Seed, run the scheduler cold and warm, route, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=100_000)
    parser.add_argument("--plans", type=int, default=1_000)
    parser.add_argument("--database-url")
    parser.add_argument("--naive", action="store_true", help="also time the per-row voucher baseline")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="notify-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    app = create_app(dict(KEYS, SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False, ACCESS_LOG=False,
                          INSTANCE_PATH=tmp, JOBS_ENQUEUE=False))
    with app.app_context():
        db.drop_all()
        db.create_all()
        t = time.perf_counter()
        seed(args.vouchers, args.plans)
        print(f"{db.engine.dialect.name}: seeded {args.vouchers} vouchers, {args.plans * LESSONS_PER_PLAN} lessons, "
              f"{args.plans * TRAINEES_PER_PLAN} enrolments in {time.perf_counter() - t:.1f} s")
        if args.naive:
            s, n, due = timed(naive_vouchers)
            print(f"naive voucher scan (baseline): {s * 1000:.0f} ms, {n} statements, {due} due")
        s, n, counts = timed(lambda: queue_due(NOW, app.config))
        total = db.session.execute(select(func.count()).select_from(Notification)).scalar()
        db.session.commit()
        print(f"queue_due cold: {s * 1000:.0f} ms, {n} statements, {total} notifications queued: {counts}")
        s, n, counts = timed(lambda: queue_due(NOW, app.config))
        print(f"queue_due again, nothing new: {s * 1000:.0f} ms, {n} statements: {counts}")
        later = NOW + timedelta(minutes=1)
        s, n, counts = timed(lambda: queue_due(later, app.config))
        print(f"queue_due one minute later: {s * 1000:.0f} ms, {n} statements: {counts}")
        s, n, routed = timed(lambda: route_new(NOW))
        deliveries = db.session.execute(select(func.count()).select_from(NotificationDelivery)).scalar()
        db.session.commit()
        print(f"route_new: {s * 1000:.0f} ms, {n} statements, {routed} routed, {deliveries} deliveries")
        if url.startswith("postgresql"):
            db.drop_all()


if __name__ == "__main__":
    main()
