"""Import a 5,000-row roster through the HTTP API and count its SQL statements and time.

Run: .venv/bin/python bench/roster_bench.py [--rows 5000] [--known 0.2] [--database-url URL]

The roster is the real template (GET /plans/{id}/roster/template.xlsx) filled by openpyxl, uploaded as
multipart to POST /plans/{id}/roster by an institution user; the timer covers the whole request
(xlsx parsing, validation, blind indexes, encryption, inserts, audit, commit, JSON response).
Statements are counted with SQLAlchemy's before_cursor_execute event (an executemany counts once).
Two scenarios: every person new, and a share of them already known (matched by blind index).
Default database: a fresh SQLite file in a temporary directory. A PostgreSQL URL must name a database
this script may fill (its tables are created and dropped).
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openpyxl import load_workbook  # noqa: E402
from sqlalchemy import event  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from backend import create_app  # noqa: E402
from backend.domain.identity import credit_check_char, id_check_digit, org_check_char  # noqa: E402
from backend.domain.plans import SHANGHAI  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.models import Institution, Lesson, Person, Site, TrainingPlan, User  # noqa: E402
from backend.services.persons import new_person  # noqa: E402

KEYS = {"SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
        "DATA_KEY": "bench-data-key-0123456789abcdef0123456789abc"}
NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
TARGET_S = 10.0


def id_numbers(count: int, salt: int) -> list[str]:
    """`count` distinct valid ID numbers (Fuzhou households, adults) for scenario `salt`."""
    out = []
    start = date(1970, 1, 1) + timedelta(days=salt * 7)
    for i in range(count):
        born = start + timedelta(days=i // 900)
        first17 = f"350102{born:%Y%m%d}{i % 900 + 100:03d}"
        out.append(first17 + id_check_digit(first17))
    return out


def setup(app, tag: str) -> tuple[int, dict]:
    """An institution, its user (logged in), a site and a draft plan with one lesson."""
    base = f"{abs(hash(tag)) % 10**8:08d}"
    org = base + org_check_char(base)
    first17 = "91350102" + org
    inst = Institution(name=f"基准机构{tag}", credit_code=first17 + credit_check_char(first17),
                       region_code="350102", kind="training_org", status="approved", created_at=NOW)
    db.session.add(inst)
    db.session.flush()
    user = User(username=f"bench-{tag}", password_hash=generate_password_hash("bench-password", "pbkdf2:sha256:1000"),
                role="institution", region_code="350102", institution_id=inst.id, created_at=NOW)
    site = Site(institution_id=inst.id, name="基地", address="福州", lat=26.0785, lon=119.2965, radius_m=200,
                created_at=NOW)
    plan = TrainingPlan(institution_id=inst.id, region_code="350102", title="中式烹调师（初级）", occupation_code="4-03-02-01",
                        plan_type="pre_job", delivery="offline", starts_on=date(2026, 3, 10),
                        ends_on=date(2026, 3, 20), status="draft", created_at=NOW)
    db.session.add_all([user, site, plan])
    db.session.flush()
    starts = datetime(2026, 3, 10, 9, tzinfo=SHANGHAI)
    db.session.add(Lesson(plan_id=plan.id, title="第一课", mode="offline", starts_at=starts,
                          ends_at=starts + timedelta(hours=3), class_hours=4, site_id=site.id))
    db.session.commit()
    r = app.test_client().post("/api/v1/auth/login", json={"username": user.username, "password": "bench-password"})
    return plan.id, {"Authorization": f"Bearer {r.get_json()['access_token']}"}


def scenario(app, rows: int, known_share: float, tag: str, salt: int) -> dict:
    """Fill the template with `rows` trainees (a share of them already known) and import it once."""
    plan_id, headers = setup(app, tag)
    client = app.test_client()
    numbers = id_numbers(rows, salt)
    known = int(rows * known_share)
    for idn in numbers[:known]:
        db.session.add(new_person(f"学员{idn[-6:]}", idn, NOW))
    db.session.commit()
    template = client.get(f"/api/v1/plans/{plan_id}/roster/template.xlsx", headers=headers).data
    wb = load_workbook(io.BytesIO(template))
    ws = wb["参训名单"]
    for i, idn in enumerate(numbers, start=2):
        ws.cell(row=i, column=1, value=f"学员{idn[-6:]}")
        ws.cell(row=i, column=2, value=idn)
        ws.cell(row=i, column=3, value=f"138{i:08d}")
        ws.cell(row=i, column=4, value="失业人员" if i % 3 == 0 else None)
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    statements: Counter = Counter()

    def count(conn, cursor, statement, params, context, executemany):
        statements[statement.split(None, 1)[0].upper()] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    started = time.perf_counter()
    r = client.post(f"/api/v1/plans/{plan_id}/roster", headers=headers,
                    data={"file": (io.BytesIO(data), "roster.xlsx")}, content_type="multipart/form-data")
    elapsed = time.perf_counter() - started
    event.remove(db.engine, "before_cursor_execute", count)
    body = r.get_json()
    assert r.status_code == 200, body
    return {"rows": rows, "known": known, "imported": body["imported"], "failed": body["failed"],
            "queries": sum(statements.values()), "by_kind": dict(statements), "seconds": elapsed,
            "xlsx_kb": len(data) // 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--known", type=float, default=0.2, help="share of persons already in the database")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    app = create_app(dict(KEYS, SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False, ACCESS_LOG=False,
                          CLOCK=lambda: NOW, UPLOAD_DIR=str(Path(tmp.name) / "uploads")))
    worst = 0.0
    with app.app_context():
        db.drop_all()
        db.create_all()
        try:
            print(f"database: {db.engine.dialect.name}; rows: {args.rows}; target < {TARGET_S:.0f} s")
            for tag, share, salt in (("new", 0.0, 1), ("known", args.known, 2)):
                res = scenario(app, args.rows, share, tag, salt)
                worst = max(worst, res["seconds"])
                print(f"  {tag:5} ({res['known']} known persons, xlsx {res['xlsx_kb']} KiB): imported {res['imported']}, "
                      f"failed {res['failed']}, {res['queries']} statements {res['by_kind']}, {res['seconds']:.2f} s")
            assert db.session.query(Person).count() >= args.rows
        finally:
            db.session.remove()
            db.drop_all()
    print(f"worst: {worst:.2f} s — {'OK' if worst < TARGET_S else 'OVER TARGET'}")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
