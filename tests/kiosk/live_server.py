"""A real server for the kiosk end-to-end tests and the sync benchmark.

`GunicornServer` runs the product (`backend:create_app()`, as in the Procfile) in its own process
group on a fixed 127.0.0.1 port, so a test can SIGKILL it and start it again on the same port.
`seed_site` fills the database through the models (a site, lessons in session now by the real
clock, enrolled persons); `register_device` goes through the HTTP API like an institution would.
`run_kiosk` starts `python -m kiosk` with KIOSK_* settings. Used by tests/kiosk/test_e2e_server.py,
tests/kiosk/test_crash_sync.py and bench/kiosk_sync_bench.py.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KEYS = {"SECRET_KEY": "kiosk-e2e-secret-key-0123456789abcdef012345",
        "DATA_KEY": "kiosk-e2e-data-key-0123456789abcdef0123456789"}
REGION = "350102"
STAFF_PASSWORD = "kiosk-e2e-password-1"


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sqlalchemy_url(url: str) -> str:
    """postgresql:// URLs use psycopg 3, as the app does."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def wait_for(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class GunicornServer:
    """gunicorn + the app on `db_url`; start/stop/kill, same port across restarts."""

    def __init__(self, db_url: str, workdir: Path, port: int | None = None, workers: int = 2,
                 worker_class: str = "gevent", extra_env: dict | None = None):
        self.db_url = db_url
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.workers = workers
        self.worker_class = worker_class
        self.env = {**os.environ, **KEYS, "DATABASE_URL": db_url, "RATELIMIT_ENABLED": "false",
                    "INSTANCE_PATH": str(self.workdir / "instance"), "APP_ENV": "development",
                    "PYTHONPATH": str(REPO), **(extra_env or {})}
        self.env.pop("REDIS_URL", None)
        self.log = self.workdir / "gunicorn.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """Base URL (no /api/v1)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> GunicornServer:
        """Start and wait until /api/v1/healthz answers."""
        cmd = [sys.executable, "-m", "gunicorn", "backend:create_app()", "--worker-class", self.worker_class,
               "--workers", str(self.workers), "--bind", f"127.0.0.1:{self.port}", "--timeout", "60",
               "--graceful-timeout", "5", "--log-level", "warning"]
        if self.worker_class == "gevent":
            cmd += ["--worker-connections", "1000"]
        with self.log.open("a") as log:
            log.write(f"--- start {self.starts + 1}\n")
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/api/v1/healthz")
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"gunicorn did not answer in {timeout} s:\n{self.log_tail()}")

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the master and every worker at once (a crash or power cut, not a shutdown)."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        """Graceful stop (SIGTERM), SIGKILL if it lingers."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, n: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        """One plain JSON request; returns (status, decoded body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = json.dumps(body).encode() if body is not None else None
        try:
            conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        return resp.status, (json.loads(raw) if raw else None)


# ---- database and seed ----------------------------------------------------------------------------

def make_app(db_url: str):
    """The app on `db_url` for seeding and inspecting from the test process (no server clock override)."""
    from backend import create_app

    return create_app(dict(KEYS, SQLALCHEMY_DATABASE_URI=sqlalchemy_url(db_url), RATELIMIT_ENABLED=False,
                           ACCESS_LOG=False))


def id_number_for(i: int, region: str = REGION) -> str:
    """A distinct valid ID number per integer (birth date and sequence vary with i)."""
    from backend.domain.identity import id_check_digit

    birth = date(1975, 1, 1) + timedelta(days=i // 800)
    first17 = f"{region}{birth:%Y%m%d}{100 + i % 800:03d}"
    return first17 + id_check_digit(first17)


@dataclass
class PersonSpec:
    """Someone to seed: enrolled in the plan unless `enrolled` is False; `face` is a 128-float template."""

    name: str
    id_number: str
    face: list[float] | None = None
    enrolled: bool = True


@dataclass
class Seeded:
    """Ids of what `seed_site` created."""

    institution_id: int
    site_id: int
    plan_id: int
    lesson_ids: list[int]
    staff_username: str
    supervisor_username: str = ""
    person_ids: dict[str, int] = field(default_factory=dict)  # by ID number
    starts_at: datetime | None = None
    ends_at: datetime | None = None


def lesson_start(now: datetime) -> datetime:
    """Ten minutes ago, but never before today's Shanghai midnight (so it stays today's lesson)."""
    from backend.domain.attendance import SHANGHAI

    midnight = datetime.combine(now.astimezone(SHANGHAI).date(), dtime(0, 0), SHANGHAI)
    return max(now - timedelta(minutes=10), midnight.astimezone(UTC))


def seed_site(app, people: list[PersonSpec], lessons: int = 1, hours: int = 3) -> Seeded:
    """An approved institution with a staff login, a site, an in-progress plan with `lessons` offline
    lessons in session now (real clock), and the people (face templates encrypted as in production)."""
    from werkzeug.security import generate_password_hash

    from backend.extensions import db
    from backend.models import Enrollment, Institution, Lesson, Site, TrainingPlan, User
    from backend.security.crypto import vault
    from backend.services import persons

    now = datetime.now(UTC)
    with app.app_context():
        inst = Institution(name="鼓楼职业培训学校", credit_code="91350102MA2XKIOSK1", region_code=REGION,
                           kind="training_org", status="approved", created_at=now)
        db.session.add(inst)
        db.session.flush()
        username = f"kiosk-school-{inst.id}"
        db.session.add(User(username=username, role="institution", region_code=REGION, institution_id=inst.id,
                            password_hash=generate_password_hash(STAFF_PASSWORD, method="pbkdf2:sha256:1000"),
                            created_at=now))
        db.session.add(User(username=f"kiosk-sup-{inst.id}", role="supervisor", region_code=REGION[:4],
                            password_hash=generate_password_hash(STAFF_PASSWORD, method="pbkdf2:sha256:1000"),
                            created_at=now))
        site = Site(institution_id=inst.id, name="鼓楼实训基地", address="鼓楼区五四路", lat=26.0785, lon=119.2965,
                    radius_m=200, created_at=now)
        plan = TrainingPlan(institution_id=inst.id, region_code=REGION, title="电工（初级）", occupation_code="6-31-01-03",
                            plan_type="pre_job", delivery="offline", starts_on=now.date() - timedelta(days=1),
                            ends_on=now.date() + timedelta(days=20), status="in_progress", created_at=now)
        db.session.add_all([site, plan])
        db.session.flush()
        starts = lesson_start(now)
        rows = [Lesson(plan_id=plan.id, title=f"电工基础 第{n + 1}课", mode="offline", starts_at=starts,
                       ends_at=starts + timedelta(hours=hours), class_hours=Decimal(hours), site_id=site.id)
                for n in range(lessons)]
        db.session.add_all(rows)
        v = vault()
        made = []
        for spec in people:
            person = persons.new_person(spec.name, spec.id_number, now, "13800138000", ["unemployed"])
            if spec.face is not None:
                person.face_template_enc = v.encrypt_json(spec.face, persons.FACE_CONTEXT)
                person.face_consent_at = now
            made.append((spec, person))
        db.session.add_all([p for _, p in made])
        db.session.flush()
        db.session.add_all([Enrollment(plan_id=plan.id, person_id=p.id, status="active", eligible=True, reasons=[],
                                       groups=[], created_at=now) for spec, p in made if spec.enrolled])
        db.session.commit()
        seeded = Seeded(institution_id=inst.id, site_id=site.id, plan_id=plan.id, lesson_ids=[r.id for r in rows],
                        staff_username=username, supervisor_username=f"kiosk-sup-{inst.id}", person_ids={spec.id_number: p.id for spec, p in made},
                        starts_at=starts, ends_at=starts + timedelta(hours=hours))
        db.session.remove()
    return seeded


def _login(server: GunicornServer, username: str) -> dict:
    status, body = server.request("POST", "/api/v1/auth/login", {"username": username, "password": STAFF_PASSWORD})
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}"}


def register_device(server: GunicornServer, seeded: Seeded, name: str = "1号机") -> tuple[int, str]:
    """The institution registers a kiosk (POST /devices) and the region's supervisor activates it;
    returns (device_id, secret)."""
    status, body = server.request("POST", "/api/v1/devices", {"name": name, "site_id": seeded.site_id},
                                  _login(server, seeded.staff_username))
    assert status == 201 and body["status"] == "pending", body
    device_id, secret = body["device_id"], body["secret"]
    status, body = server.request("POST", f"/api/v1/devices/{device_id}/activate", {},
                                  _login(server, seeded.supervisor_username))
    assert status == 200 and body["status"] == "active", body
    return device_id, secret


def device_rows(app, device_id: int) -> list:
    """Every AttendanceEvent stored for the device, in id order."""
    from backend.extensions import db
    from backend.models import AttendanceEvent

    with app.app_context():
        rows = db.session.execute(db.select(AttendanceEvent).where(AttendanceEvent.origin == f"d{device_id}")
                                  .order_by(AttendanceEvent.id)).scalars().all()
        db.session.expunge_all()
        db.session.remove()
    return rows


def device_counts(app, device_id: int) -> tuple[int, int]:
    """(rows, distinct event ids) stored for the device: equal when nothing is stored twice."""
    from sqlalchemy import func

    from backend.extensions import db
    from backend.models import AttendanceEvent

    with app.app_context():
        total, distinct = db.session.execute(
            db.select(func.count(), func.count(func.distinct(AttendanceEvent.event_id)))
            .where(AttendanceEvent.origin == f"d{device_id}")).one()
        db.session.remove()
    return total, distinct


# ---- the kiosk side ---------------------------------------------------------------------------------

def kiosk_env(data_dir: Path, server_url: str, device_id: int, secret: str, **settings) -> dict:
    """Environment for `python -m kiosk`: the secret through a file, no status page, extra KIOSK_* values."""
    data_dir.mkdir(parents=True, exist_ok=True)
    secret_file = data_dir / "device.secret"
    secret_file.write_text(secret)
    secret_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    env.update({"KIOSK_SERVER_URL": server_url, "KIOSK_DEVICE_ID": str(device_id),
                "KIOSK_DEVICE_SECRET_FILE": str(secret_file), "KIOSK_DATA_DIR": str(data_dir),
                "KIOSK_STATUS_PORT": "0", "KIOSK_LOG_LEVEL": "INFO", "PYTHONPATH": str(REPO)})
    env.update({k: str(v) for k, v in settings.items()})
    return env


def start_kiosk(env: dict, *args: str, log: Path | None = None) -> subprocess.Popen:
    """`python -m kiosk ARGS` in the repository; output to `log` (or pipes when None)."""
    out = log.open("a") if log else subprocess.PIPE
    try:
        return subprocess.Popen([sys.executable, "-m", "kiosk", *args], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT if log else subprocess.PIPE, text=True)
    finally:
        if log:
            out.close()


def outbox_states(db_path: Path) -> dict[str, int]:
    """Events per state in a kiosk's outbox, read without disturbing the running daemon (WAL)."""
    if not db_path.exists():
        return {}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
    except sqlite3.OperationalError:
        return {}  # the daemon has not created its tables yet
    finally:
        conn.close()


def inflight_since(db_path: Path, since_iso: str) -> int:
    """Outbox events taken into an upload at or after `since_iso` (UTC ISO time): a batch this very
    process has in flight, not rows a killed predecessor left marked inflight."""
    if not db_path.exists():
        return 0
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT COUNT(*) FROM outbox WHERE state = 'inflight' AND updated_at >= ?",
                            (since_iso,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def live_rows_per_event(app, event_ids: set[str]) -> dict[str, int]:
    """How many live-stream rows name each of these event ids (the stream's replay table)."""
    from backend.extensions import db
    from backend.models import LiveEvent

    counts: dict[str, int] = {}
    with app.app_context():
        for payload in db.session.execute(db.select(LiveEvent.payload)).scalars():
            event_id = (payload or {}).get("event_id")
            if event_id in event_ids:
                counts[event_id] = counts.get(event_id, 0) + 1
        db.session.remove()
    return counts


class ReplyDropper:
    """A TCP proxy in front of the server that can lose one reply: it forwards an upload, lets the
    server answer (and commit), then closes the kiosk's connection without passing the answer on.
    That is the failure the kiosk's receipts must survive: stored on the server, unknown to the kiosk."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.armed = False
        self.dropped: list[bytes] = []  # the answers the kiosk never got
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """What the kiosk is told is the server."""
        return f"http://127.0.0.1:{self.port}"

    def arm(self) -> None:
        """Lose the answer to the next event upload."""
        self.armed = True

    def _serve(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    @staticmethod
    def _read_request(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def _relay(self, client: socket.socket) -> None:
        with client:
            request = self._read_request(client)
            if not request:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
            except OSError:
                return  # server down: the kiosk sees the connection close, as without the proxy
            with upstream:
                # One request per connection (urllib asks for Connection: close), so the reply ends at EOF.
                upstream.sendall(request)
                reply = b""
                while True:
                    try:
                        chunk = upstream.recv(65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    reply += chunk
            if self.armed and b"/device/events" in request.split(b"\r\n", 1)[0] and b" 200 " in reply[:20]:
                self.armed = False
                self.dropped.append(reply)
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                return  # RST: the answer is lost
            client.sendall(reply)

    def stop(self) -> None:
        """Stop accepting connections."""
        self._stop = True
        self.sock.close()
