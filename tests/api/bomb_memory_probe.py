"""Run in a fresh process by test_upload_bombs.py: send each bomb file to its endpoint (and to the function
behind it) and report, per bomb, the HTTP answer, the time taken and how far the process's peak resident
memory (VmHWM, reset before each bomb) rose above what it was when the bomb was sent. Prints one JSON
object on its last line.

Usage: python tests/api/bomb_memory_probe.py DIR  (DIR holds the bomb files the test wrote)
"""
from __future__ import annotations

import base64
import io
import json
import logging
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from werkzeug.security import generate_password_hash  # noqa: E402

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from tests.conftest import TEST_KEYS, FakeClock, auth, make_id_number  # noqa: E402


def _status_mb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak() -> float:
    """Start a new peak measurement; returns the resident memory it starts from (MB).

    Linux: writing 5 to clear_refs resets this process's peak (VmHWM) to its current size. ru_maxrss
    is no use here: it is inherited across fork and exec, so this process would start with the peak
    of the pytest process that launched it.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return peak_mb()


def peak_mb() -> float:
    """The process's peak resident memory since the last reset (VmHWM), in MB; ru_maxrss elsewhere."""
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(bomb_dir: Path) -> dict:
    """Set up a small world, warm up, then send every bomb and record status, seconds and peak growth."""
    logging.disable(logging.CRITICAL)
    files = {p.name: p.read_bytes() for p in bomb_dir.iterdir()}
    tmp = Path(tempfile.mkdtemp())
    clock = FakeClock()
    app = create_app(dict(TEST_KEYS, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp / 'probe.db'}", TESTING=True,
                          CLOCK=clock, ACCESS_LOG=False, UPLOAD_DIR=str(tmp / "uploads"), RATELIMIT_ENABLED=False,
                          JOBS_ENQUEUE=False, ACCESS_TOKEN_MINUTES=60 * 24 * 365))
    ctx = app.app_context()
    ctx.push()
    db.create_all()
    from backend.domain.identity import credit_check_char, org_check_char
    from backend.models import Institution, User
    from tests.api import outcomes_fixtures as fx

    before_plans = fx.sh(2026, 2, 1, 10)  # rosters open
    lesson_day = fx.sh(2026, 3, 2, 10)  # make-ups open for the first lesson
    clock.set(before_plans)
    base = "12345678"
    org = base + org_check_char(base)
    first17 = "91350102" + org
    inst = Institution(name="探针机构", credit_code=first17 + credit_check_char(first17), region_code="350102",
                       kind="training_org", status="approved", created_at=datetime.now(UTC))
    db.session.add(inst)
    db.session.commit()
    db.session.add(User(username="probe-inst", password_hash=generate_password_hash("pw-123456", "pbkdf2:sha256:1000"),
                        role="institution", region_code="350102", institution_id=inst.id, created_at=datetime.now(UTC)))
    db.session.commit()
    client = app.test_client()
    inst_h = auth(client.post("/api/v1/auth/login", json={"username": "probe-inst", "password": "pw-123456"})
                  .get_json()["access_token"])
    trainee_h = auth(client.post("/api/v1/auth/wechat", json={"code": "probe"}).get_json()["access_token"])
    r = client.post("/api/v1/me/identity", json={"name": "张三", "id_number": make_id_number(seq="777")},
                    headers=trainee_h)
    assert r.status_code == 200, r.get_json()
    person_id = r.get_json()["id"]
    site = fx.make_site(inst)
    draft = fx.make_plan(inst, site, status="draft")
    running = fx.make_plan(inst, site, status="in_progress")
    lesson = fx.lessons_of(running)[0]
    fx.enroll(running, person_id)
    db.session.commit()

    def upload(path: str, name: str, field: str = "file", extra: dict | None = None):
        data = dict(extra or {})
        data[field] = (io.BytesIO(files[name]), name)
        return client.post(path, data=data, headers=inst_h, content_type="multipart/form-data")

    def read_table(data: bytes, max_rows: int):
        try:
            from backend.services.spreadsheets import read_table as reader
        except ImportError:  # the code before this change
            from backend.services.roster_xlsx import read_table as reader
        from backend.services.roster_xlsx import ROSTER_COLUMNS, ROSTER_REQUIRED
        return reader(data, ROSTER_COLUMNS, ROSTER_REQUIRED, max_rows)

    def call(fn):
        """Run a function-level probe; an AppError becomes (422, code) like the API would answer."""
        from backend.domain.errors import AppError
        try:
            fn()
            return 200, None
        except AppError as err:
            return err.status, err.code

    face_b64 = base64.b64encode(files["face_6300.png"]).decode()
    probes = {
        "PUT /me/face 6300x6300 PNG": lambda: client.put(
            "/api/v1/me/face", json={"image_base64": face_b64, "consent": True}, headers=trainee_h),
        "faces.decode_base64_image 6300x6300 PNG": lambda: call(lambda: __import__("backend.faces").faces
                                                              .decode_base64_image(face_b64)),
        "POST /lessons/{id}/makeups panorama 18000x4800": lambda: upload(
            f"/api/v1/lessons/{lesson.id}/makeups", "panorama.png", field="panorama",
            extra={"person_id": str(person_id), "kind": "both", "reason": "探针",
                   "sign_sheet": (io.BytesIO(files["small.png"]), "s.png")}),
        "uploads.clean_image panorama 18000x4800": lambda: call(lambda: __import__("backend.uploads").uploads
                                                               .clean_image(files["panorama.png"], "panorama")),
        "POST /plans/{id}/roster xlsx declaring row 20,000,000": lambda: upload(
            f"/api/v1/plans/{draft.id}/roster", "roster_20m.xlsx"),
        "POST /plans/{id}/results xlsx declaring row 20,000,000": lambda: upload(
            f"/api/v1/plans/{running.id}/results", "results_20m.xlsx"),
        "POST /plans/{id}/roster xlsx zip bomb": lambda: upload(f"/api/v1/plans/{draft.id}/roster", "zip_bomb.xlsx"),
        "POST /plans/{id}/roster xlsx with one 8 MB row": lambda: upload(
            f"/api/v1/plans/{draft.id}/roster", "wide_row.xlsx"),
        "read_table xlsx declaring row 20,000,000": lambda: call(lambda: read_table(files["roster_20m.xlsx"], 10000)),
    }

    # Warm-up: imports and first-use caches (Pillow, numpy, openpyxl, the routes) with small good files.
    client.post(f"/api/v1/plans/{draft.id}/roster", data={"file": (io.BytesIO(files["small.xlsx"]), "s.xlsx")},
                headers=inst_h, content_type="multipart/form-data")
    client.put("/api/v1/me/face", json={"image_base64": "aGVsbG8=", "consent": True}, headers=trainee_h)
    __import__("backend.faces").faces.decode_image(files["small.png"])
    __import__("backend.uploads").uploads.clean_image(files["small.png"], "warm")
    out = {"resident_mb": round(_status_mb("VmRSS") or 0, 1), "probes": {}}
    for name, probe in probes.items():
        clock.set(lesson_day if "makeups" in name else before_plans)
        start = reset_peak()
        t = time.perf_counter()
        r = probe()
        seconds = time.perf_counter() - t
        status, code = r if isinstance(r, tuple) else (r.status_code, (r.get_json(silent=True) or {})
                                                       .get("error", {}).get("code"))
        db.session.rollback()
        out["probes"][name] = {"status": status, "code": code, "seconds": round(seconds, 3),
                               "peak_growth_mb": round(peak_mb() - start, 1)}
    ctx.pop()
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1])), ensure_ascii=False))
