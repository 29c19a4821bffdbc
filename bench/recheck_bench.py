"""Face evidence re-verification throughput on one core: evidence.recheck_due vs plain face_recognition.

Run: .venv/bin/python bench/recheck_bench.py [-n 300] [--rounds 3] [--backends sqlite,postgres]
         [--database-url postgresql://postgres@127.0.0.1:5432/recheck_bench] [--no-readme]

What is timed, per database (a temporary SQLite file; PostgreSQL in a dedicated database that is
emptied first, skipped when not reachable):
- `ours`: N FaceEvidence rows in state `due` (real kiosk crops, encrypted as the server stores them,
  persons with encrypted templates), then `evidence.recheck_due(now, limit)` in an app context until
  a sweep finds nothing: lease, decrypt, decode, detect + encode, compare, conditional update, commit.
- `baseline`: what a user would write instead, in plain face_recognition: each crop's JPEG bytes
  from memory (`load_image_file`), `face_encodings`, `face_distance` against the person's template.
  No database, no encryption, no leases.
The two alternate in every round (order swapped each round) on the same pinned core. A last,
instrumented pass repeats `recheck`'s calls one by one with a timer around each step (lease and
row reads and writes, decryption, JPEG decoding, detection, encoding) to show where a recheck goes.

One core: OMP/OpenBLAS/MKL threads = 1 before numpy/dlib load, and the process pinned to one CPU.
On PostgreSQL the server's backend runs in its own process: its CPU time is read from /proc and
reported next to ours (crops per CPU-second counts both).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import io  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report import PgCpu, analyze, machine, reset_pg, write_section  # noqa: E402

SECTION = "## Face evidence re-verification"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/recheck_bench"
KEYS = {"SECRET_KEY": "recheck-bench-secret-key-0123456789abcdef0123",
        "DATA_KEY": "recheck-bench-data-key-0123456789abcdef0123456"}
STEPS = ("db", "decrypt", "decode", "detect", "encode")
STEP_LABELS = {"db": "database: lease, read evidence + person, conditional update, commit",
               "decrypt": "AES-GCM: template + crop", "decode": "JPEG decode (`faces.decode_image`)",
               "detect": "face detection (HOG)", "encode": "landmarks + ResNet encoding + distance"}


def pin_one_core(enabled: bool) -> str:
    """Pin this process to the first allowed CPU; returns the CPUs it may run on."""
    if enabled and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    return str(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "?"


def face_variants():
    """(label, RGB array) of scikit-image's astronaut, mirrored, rotated, rescaled and relit: one person, many shots."""
    import numpy as np
    from PIL import Image, ImageEnhance, ImageOps
    from skimage import data

    astro = Image.fromarray(data.astronaut())
    shots = [("original", astro), ("mirrored", ImageOps.mirror(astro))]
    shots += [(f"rotated {a:+d} deg", astro.rotate(a, resample=Image.BILINEAR, fillcolor=(128, 128, 128)))
              for a in (-10, -5, 5, 10)]
    shots += [(f"scaled x{s}", astro.resize((round(512 * s),) * 2, Image.BILINEAR)) for s in (0.7, 1.5, 2.0)]
    shots += [(f"brightness x{b}", ImageEnhance.Brightness(astro).enhance(b)) for b in (0.7, 1.3)]
    return [(label, np.asarray(img)) for label, img in shots]


def evidence_crops() -> list[tuple[str, bytes]]:
    """(label, JPEG) of each variant's face, cropped exactly as the kiosk does (`faces.crop_jpeg`)."""
    from backend import faces

    crops = []
    for label, rgb in face_variants():
        found = faces.detect_faces(rgb)
        if not found:
            raise SystemExit(f"no face found in the {label} astronaut")
        crops.append((label, faces.crop_jpeg(rgb, found[0])))
    return crops


def wrong_template(template: list[float], rng: random.Random) -> list[float]:
    """A template about 0.7 away from `template`: someone else's face, as far as the threshold goes."""
    import numpy as np

    noise = np.asarray([rng.gauss(0, 1) for _ in template])
    return list(np.asarray(template) + 0.7 * noise / np.linalg.norm(noise))


def make_app(db_url: str, instance: Path):
    """A throwaway app on `db_url` with its own instance folder and explicit keys, schema created."""
    from backend import create_app
    from backend.extensions import db

    os.environ["INSTANCE_PATH"] = str(instance)
    url = db_url.replace("postgresql://", "postgresql+psycopg://", 1) if db_url.startswith("postgresql://") else db_url
    app = create_app(dict(KEYS, SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False, ACCESS_LOG=False))
    with app.app_context():
        db.create_all()
        db.session.remove()
    return app


def seed(app, crops: list[bytes], n: int, template: list[float], mismatch_percent: float) -> dict:
    """Persons with encrypted templates, one kiosk, n accepted face events (a check-in and a check-out
    per person) and their FaceEvidence rows in state `due`; returns what the baseline needs in memory."""
    from sqlalchemy import insert

    from backend.extensions import db
    from backend.models import AttendanceEvent, Device
    from backend.models.trust import FaceEvidence
    from backend.security.crypto import vault
    from backend.security.devices import SECRET_CONTEXT
    from backend.services.evidence import CROP_CONTEXT
    from tests.kiosk.live_server import PersonSpec, id_number_for, seed_site

    rng = random.Random(12)
    n_people = (n + 1) // 2
    wrong = set(rng.sample(range(n_people), round(n_people * mismatch_percent / 100)))
    templates = [wrong_template(template, rng) if i in wrong else list(template) for i in range(n_people)]
    seeded = seed_site(app, [PersonSpec(f"学员{i}", id_number_for(i), face=t) for i, t in enumerate(templates)])
    by_id_number = seeded.person_ids
    people = [by_id_number[id_number_for(i)] for i in range(n_people)]
    now = datetime.now(UTC)
    with app.app_context():
        v = vault()
        device = Device(institution_id=seeded.institution_id, site_id=seeded.site_id, name="1号机",
                        secret_enc=v.encrypt_text("bench-device-secret", SECRET_CONTEXT), status="active",
                        created_at=now, activated_at=now)
        db.session.add(device)
        db.session.flush()
        events = [{"origin": f"d{device.id}", "event_id": str(uuid.uuid4()), "person_id": people[j // 2],
                   "lesson_id": seeded.lesson_ids[0], "kind": "check_in" if j % 2 == 0 else "check_out",
                   "source": "kiosk", "method": "card+face",
                   "captured_at": seeded.starts_at + timedelta(seconds=5 * j + (3600 if j % 2 else 0)),
                   "received_at": now, "face_distance": 0.3, "device_id": device.id, "accepted": True,
                   "reason": None, "details": {}, "flags": [], "status_code": 201} for j in range(n)]
        ids = db.session.connection().execute(insert(AttendanceEvent).returning(
            AttendanceEvent.id, sort_by_parameter_order=True), events).scalars().all()
        rows = [{"attendance_event_id": ids[j], "person_id": events[j]["person_id"], "lesson_id": events[j]["lesson_id"],
                 "device_id": device.id, "kiosk_distance": 0.3,
                 "crop_enc": v.encrypt(crops[j % len(crops)], CROP_CONTEXT), "state": "due", "attempts": 0,
                 "created_at": now} for j in range(n)]
        db.session.connection().execute(insert(FaceEvidence), rows)
        db.session.commit()
        db.session.remove()
    return {"items": [(crops[j % len(crops)], templates[j // 2]) for j in range(n)],
            "expect_failed": sum(1 for j in range(n) if j // 2 in wrong)}


def reset(app, db_url: str) -> None:
    """Every evidence row back to `due`, no flags or live rows from a previous pass (not timed)."""
    from sqlalchemy import delete, update

    from backend.extensions import db
    from backend.models import LiveEvent
    from backend.models.trust import FaceEvidence, TrustFlag

    with app.app_context():
        db.session.execute(update(FaceEvidence).values(state="due", server_distance=None, checked_at=None,
                                                       lease_until=None, attempts=0))
        db.session.execute(delete(TrustFlag))
        db.session.execute(delete(LiveEvent))
        db.session.commit()
        db.session.remove()
    if db_url.startswith("postgresql"):
        import psycopg
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE face_evidence")  # as autovacuum would (off on this machine's test server)


def run_ours(app, db_url: str, limit: int) -> dict:
    """Sweep with evidence.recheck_due until nothing is due, as the worker does; wall, CPU and outcomes."""
    from backend.extensions import db
    from backend.services import evidence

    server = PgCpu(db_url)
    with app.app_context():
        server.start()
        cpu0, t0 = time.process_time(), time.perf_counter()
        counts: dict[str, int] = {}
        sweeps = 0
        while True:
            done = evidence.recheck_due(datetime.now(UTC), limit)
            sweeps += 1
            if not done:
                break
            for state, k in done.items():
                counts[state] = counts.get(state, 0) + k
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        db.session.remove()
    return {"wall": wall, "cpu": cpu, "server_cpu": server.stop(), "counts": counts, "sweeps": sweeps}


def run_baseline(face_recognition, items: list[tuple[bytes, list[float]]], threshold: float) -> dict:
    """Plain face_recognition on each crop held in memory: load, encode, distance; wall, CPU and outcomes."""
    counts = {"passed": 0, "failed": 0, "no_face": 0}
    cpu0, t0 = time.process_time(), time.perf_counter()
    for jpeg, template in items:
        image = face_recognition.load_image_file(io.BytesIO(jpeg))
        encodings = face_recognition.face_encodings(image)
        if not encodings:
            counts["no_face"] += 1
            continue
        distance = face_recognition.face_distance([template], encodings[0])[0]
        counts["passed" if distance <= threshold else "failed"] += 1
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - cpu0, "server_cpu": None,
            "counts": {k: v for k, v in counts.items() if v}}


def _now_both() -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) right now."""
    return time.perf_counter(), time.process_time()


def run_split(app, db_url: str, limit: int) -> dict:
    """recheck's own calls one by one, each step timed (wall and this process's CPU); seconds per step over
    all due rows, the crop count, and the PostgreSQL server's CPU over the pass."""
    from sqlalchemy import update

    from backend import faces
    from backend.domain import trust
    from backend.extensions import db
    from backend.models import Person
    from backend.models.trust import FaceEvidence
    from backend.security.crypto import vault
    from backend.services import evidence
    from backend.services.persons import FACE_CONTEXT

    wall = dict.fromkeys(STEPS, 0.0)
    cpu = dict.fromkeys(STEPS, 0.0)

    def add(step: str, start: tuple[float, float], end: tuple[float, float]) -> None:
        wall[step] += end[0] - start[0]
        cpu[step] += end[1] - start[1]

    crops = 0
    server = PgCpu(db_url)
    with app.app_context():
        lease_s = float(app.config["JOB_LEASE_S"])
        threshold = float(app.config["FACE_MATCH_THRESHOLD"])
        v = vault()
        server.start()
        while True:
            now = datetime.now(UTC)
            t = _now_both()
            ids = evidence.claim_due(now, limit, lease_s)
            db.session.commit()
            add("db", t, _now_both())
            if not ids:
                break
            for evidence_id in ids:
                t0 = _now_both()
                ev = db.session.get(FaceEvidence, evidence_id, populate_existing=True)
                person = db.session.get(Person, ev.person_id)
                t1 = _now_both()
                template = v.decrypt_json(person.face_template_enc, FACE_CONTEXT)
                crop = v.decrypt(ev.crop_enc, evidence.CROP_CONTEXT)
                t2 = _now_both()
                rgb = faces.decode_image(crop, max_bytes=trust.MAX_CROP_BYTES, field="face_jpeg")
                t3 = _now_both()
                found = faces.detect_faces(rgb, faces.VERIFY_DETECT_SIDE)
                t4 = _now_both()
                largest = max(found, key=lambda f: (f.area, f.score))
                distance = faces.face_distance(faces.encode_face(rgb, largest), template)
                t5 = _now_both()
                db.session.execute(update(FaceEvidence).where(FaceEvidence.id == ev.id, FaceEvidence.state == "due")
                                   .values(state="passed" if distance <= threshold else "failed",
                                           server_distance=distance, checked_at=now, lease_until=None)
                                   .execution_options(synchronize_session=False))
                db.session.commit()
                t6 = _now_both()
                add("db", t0, t1)
                add("db", t5, t6)
                add("decrypt", t1, t2)
                add("decode", t2, t3)
                add("detect", t3, t4)
                add("encode", t4, t5)
                crops += 1
        db.session.remove()
    return {"wall": wall, "cpu": cpu, "crops": crops, "server_cpu": server.stop()}


def bench_backend(kind: str, db_url: str, args, crops: list[bytes], template: list[float], face_recognition,
                  workdir: Path) -> dict:
    """Seed, warm up, then `rounds` x (ours, baseline) alternating, then the instrumented split."""
    app = make_app(db_url, workdir / f"instance-{kind}")
    print(f"[{kind}] seeding {args.n} due crops ...", flush=True)
    seeded = seed(app, crops, args.n, template, args.mismatch_percent)
    analyze(db_url)
    threshold = float(app.config["FACE_MATCH_THRESHOLD"])
    expected = {"passed": args.n - seeded["expect_failed"], "failed": seeded["expect_failed"]}
    expected = {k: v for k, v in expected.items() if v}
    # Warm-up: SQL compilation caches, first JPEG decode, both libraries' models (not recorded).
    run_ours(app, db_url, 10)
    run_baseline(face_recognition, seeded["items"][:10], threshold)
    figures = {"ours": [], "baseline": []}
    for r in range(args.rounds):
        reset(app, db_url)
        order = ("ours", "baseline") if r % 2 == 0 else ("baseline", "ours")
        print(f"[{kind}] round {r + 1}/{args.rounds}: {args.n} crops, {order[0]} then {order[1]} ...", flush=True)
        for method in order:
            if method == "ours":
                res = run_ours(app, db_url, args.limit)
            else:
                res = run_baseline(face_recognition, seeded["items"], threshold)
            assert res["counts"] == expected, (method, res["counts"], expected)
            figures[method].append(res)
            print(f"    {method:<8} {args.n / res['wall']:6.2f} crops/s  (wall {res['wall']:.1f} s, "
                  f"CPU {res['cpu']:.1f} s" + (f", server CPU {res['server_cpu']:.2f} s" if res["server_cpu"]
                                               is not None else "") + ")", flush=True)
    reset(app, db_url)
    print(f"[{kind}] instrumented pass over {args.n} crops ...", flush=True)
    split = run_split(app, db_url, args.limit)
    assert split["crops"] == args.n, split
    from backend.extensions import db
    with app.app_context():
        db.engine.dispose()
    return {"kind": kind, "n": args.n, **figures, "split": split}


def rate(res: dict, n: int) -> float:
    """Crops per second of wall time on the pinned core (other load on that core slows it down)."""
    return n / res["wall"]


def cpu_rate(res: dict, n: int) -> float:
    """Crops per CPU-second: this process plus, on PostgreSQL, the server backend's CPU (a core's capacity)."""
    return n / (res["cpu"] + (res["server_cpu"] or 0.0))


def summary(results: list[dict]) -> dict:
    """Median figures per database and method (with the range over rounds), for the tables and the conclusions."""
    out = {}
    for r in results:
        for method in ("ours", "baseline"):
            runs = r[method]
            rates = sorted(rate(x, r["n"]) for x in runs)
            cpu_rates = sorted(cpu_rate(x, r["n"]) for x in runs)
            out[(r["kind"], method)] = {
                "rate": statistics.median(rates), "lo": rates[0], "hi": rates[-1],
                "cpu_rate": statistics.median(cpu_rates), "cpu_lo": cpu_rates[0], "cpu_hi": cpu_rates[-1],
                "cpu_ms": 1000 / statistics.median(cpu_rates),
                "server_ms": (statistics.median(x["server_cpu"] for x in runs) / r["n"] * 1000
                              if all(x["server_cpu"] is not None for x in runs) else None)}
    return out


def tables(results: list[dict]) -> tuple[str, str]:
    """(throughput table, per-step table) in Markdown."""
    s = summary(results)
    lines = ["| database | method | crops per CPU-second, one core (median) | range over rounds | CPU ms per crop "
             "| of which PostgreSQL server | crops/s wall on the pinned core (median, range) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        for method, label in (("ours", "`evidence.recheck_due` (decrypt, decode, verify, DB)"),
                              ("baseline", "plain face_recognition (crop in memory, no DB, no crypto)")):
            f = s[(r["kind"], method)]
            server = f"{f['server_ms']:.2f}" if f["server_ms"] is not None else "—"
            lines.append(f"| {r['kind']} | {label} | {f['cpu_rate']:.2f} | {f['cpu_lo']:.2f}-{f['cpu_hi']:.2f} | "
                         f"{f['cpu_ms']:.0f} | {server} | {f['rate']:.2f} ({f['lo']:.2f}-{f['hi']:.2f}) |")
    split_lines = ["| step | " + " | ".join(f"{r['kind']} CPU ms per crop | share | wall ms" for r in results) + " |",
                   "|---|" + "---:|---:|---:|" * len(results)]
    for step in STEPS + ("total",):
        cells = []
        for r in results:
            sp, n = r["split"], r["split"]["crops"]
            cpu_total, wall_total = sum(sp["cpu"].values()), sum(sp["wall"].values())
            c = cpu_total if step == "total" else sp["cpu"][step]
            w = wall_total if step == "total" else sp["wall"][step]
            cells.append(f"{c / n * 1000:.1f} | {c / cpu_total * 100:.0f} % | {w / n * 1000:.1f}")
        label = "total (instrumented loop)" if step == "total" else STEP_LABELS[step]
        split_lines.append(f"| {label} | " + " | ".join(cells) + " |")
    server = [f"{r['split']['server_cpu'] / r['split']['crops'] * 1000:.2f} ms"
              for r in results if r["split"]["server_cpu"] is not None]
    if server:
        split_lines.append("")
        split_lines.append("PostgreSQL's own CPU per crop in the same pass (its backend process, not in the shares "
                           "above): " + ", ".join(server) + ".")
    return "\n".join(lines), "\n".join(split_lines)


def conclusions(results: list[dict], sample_percent: float, trainees: int, events_per_trainee: int, limit: int,
                lease_s: float) -> str:
    """What the figures mean: face-model share, cost next to the baseline, core-seconds per day for a region."""
    s = summary(results)
    out = []
    for r in results:
        ours, base = s[(r["kind"], "ours")], s[(r["kind"], "baseline")]
        cpu = r["split"]["cpu"]
        total = sum(cpu.values())
        model = (cpu["detect"] + cpu["encode"]) / total * 100
        out.append(f"- {r['kind']}: {ours['cpu_rate']:.1f} crops per CPU-second for the whole pipeline (server "
                   f"included), {base['cpu_rate']:.1f} for plain face_recognition in the same rounds "
                   f"({ours['cpu_rate'] / base['cpu_rate']:.2f}x); of a recheck's CPU the face model (detection + "
                   f"encoding) is {model:.0f} %, the database calls {cpu['db'] / total * 100:.1f} %, decryption "
                   f"{cpu['decrypt'] / total * 100:.1f} %, JPEG decoding {cpu['decode'] / total * 100:.1f} %.")
    slowest = min(s[(r["kind"], "ours")]["rate"] for r in results)
    per_cpu = min(s[(r["kind"], "ours")]["cpu_rate"] for r in results)
    crops_day = trainees * events_per_trainee
    sampled = crops_day * sample_percent / 100
    out.append(f"- A region with {trainees:,} trainees a day at the kiosks, {events_per_trainee} face events each "
               f"(check-in and check-out), sends {crops_day:,} crops a day. At a {sample_percent:g} % sample that "
               f"is {sampled:,.0f} rechecks: {sampled / per_cpu:,.0f} CPU-seconds a day at the lower rate above "
               f"({per_cpu:.1f} crops per CPU-second), {sampled / per_cpu / 60:.1f} core-minutes. If every crop "
               f"were due (every trainee flagged), {crops_day / per_cpu:,.0f} CPU-seconds "
               f"({crops_day / per_cpu / 3600:.2f} core-hours): one worker process on one core could keep up with "
               f"{86400 * per_cpu / crops_day:.0f} such regions even then.")
    sweep_s = limit / slowest
    out.append(f"- One sweep leases {limit} crops and took about {sweep_s:.0f} s at the slowest wall rate above, inside "
               f"the {lease_s:g} s lease (JOB_LEASE_S): a crop is taken over by another worker only if its sweep runs "
               f"{lease_s / sweep_s:.0f}x slower than here (the outcome is still recorded once: the update is "
               f"conditional).")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the tables and write the README section."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300, help="due crops per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=200, help="crops leased per recheck_due sweep")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--database-url", default=os.environ.get("RECHECK_BENCH_DATABASE_URL", DEFAULT_PG),
                    help="PostgreSQL database the bench may empty and fill")
    ap.add_argument("--mismatch-percent", type=float, default=0.0,
                    help="persons whose template is someone else's (their crops fail and raise a flag)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args(argv)
    if args.n < 10:
        raise SystemExit("-n must be at least 10")
    cpus = pin_one_core(not args.no_pin)
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"

    import dlib
    from skimage import data

    from backend import faces
    from backend.config import RULE_DEFAULTS
    from bench.face_bench import import_stock_face_recognition

    face_recognition = import_stock_face_recognition()
    faces.warm_up()
    template = faces.enroll_template(data.astronaut())
    labelled = evidence_crops()
    crops = [jpeg for _, jpeg in labelled]
    sizes = sorted(len(c) for c in crops)
    print(f"dlib {dlib.__version__} (AVX={dlib.USE_AVX_INSTRUCTIONS}, BLAS={dlib.DLIB_USE_BLAS}); CPUs allowed: {cpus}; "
          f"{len(crops)} crop variants, {sizes[0]:,}-{sizes[-1]:,} bytes; n={args.n}, rounds={args.rounds}")
    workdir = Path(tempfile.mkdtemp(prefix="recheck-bench-"))
    results = []
    for kind in args.backends.split(","):
        if kind == "sqlite":
            results.append(bench_backend("SQLite", f"sqlite:///{workdir / 'bench.db'}", args, crops, template,
                                         face_recognition, workdir))
        elif kind == "postgres" and reset_pg(args.database_url):
            results.append(bench_backend("PostgreSQL", args.database_url, args, crops, template, face_recognition,
                                         workdir))
    if not results:
        raise SystemExit("no database to measure")
    throughput, split = tables(results)
    sample = float(RULE_DEFAULTS["RECHECK_SAMPLE_PERCENT"])
    notes = conclusions(results, sample, 5000, 2, args.limit, float(RULE_DEFAULTS["JOB_LEASE_S"]))
    print()
    print(throughput)
    print()
    print(split)
    print()
    print(notes)
    if not args.no_readme:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        variants = ", ".join(label for label, _ in labelled)
        load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
        from PIL import Image
        edges = sorted(max(Image.open(io.BytesIO(c)).size) for c in crops)
        sides = f"longest side {edges[0]}-{edges[-1]} px"
        outcome = ("Every crop must come out `passed` in both methods." if not args.mismatch_percent else
                   f"{args.mismatch_percent:g} % of the persons have someone else's template: their crops must come "
                   "out `failed` (ours raises the flag) and all others `passed`, in both methods.")
        write_section(SECTION, f"""{SECTION}

`bench/recheck_bench.py` ({stamp}) measures the background re-verification of kiosk face crops
(`backend/services/evidence.py`) on one core, next to what a user would write instead. Run from a clean
checkout: `scripts/bootstrap && .venv/bin/python bench/recheck_bench.py` (PostgreSQL: a database the
script may empty, `--database-url`, default `{DEFAULT_PG}`; skipped when not reachable).

- **Crops**: {len(crops)} shots of scikit-image's astronaut ({variants}), each cropped as the kiosk
  does (`faces.crop_jpeg` around the detected face: {sizes[0]:,}-{sizes[-1]:,} bytes, {sides}), used in
  turn for {args.n} FaceEvidence rows in state `due`, stored encrypted (AES-GCM) as `evidence.store` does, for
  {(args.n + 1) // 2} persons with encrypted templates (a check-in and a check-out each), seeded through the
  models in a throwaway app (own instance folder and keys).
- **Ours**: `evidence.recheck_due(now, limit={args.limit})` in an app context, repeated until a sweep finds
  nothing, as the worker would: lease (conditional update per row, commit), then per crop read the row and
  the person, decrypt template and crop, decode the JPEG, `faces.verify` (detect, encode, distance), the
  conditional update of the row and its commit.
- **Baseline**: plain face_recognition 1.3 on the same crops held in memory, the few lines a user would
  write: `load_image_file(BytesIO(jpeg))`, `face_encodings(image)` (HOG upsampled once, every face
  encoded), `face_distance([template], encodings[0])`. No database, no encryption, no lease.
- Both in every round on the same core (order swapped each round), {args.rounds} rounds after a warm-up;
  OMP/OpenBLAS/MKL threads = 1 and the process pinned to one CPU ({cpus}). {outcome}
- **Per core**: crops per CPU-second, this process's CPU plus, on PostgreSQL, the server backend's
  (another process, read from /proc). It is the capacity of one core and is little affected by the
  other programs on this machine; the wall rate on the pinned core is shown too, and drops whenever
  another program gets that core.
- **Split**: a last pass repeats `recheck`'s calls one by one with a timer (CPU and wall) around each step.

Machine: {machine(with_postgres=True)}; load average before the run: {load_before}, after: {load_after}
(other sessions' test suites share the machine, so read ranges, not the last digit).

{throughput}

Where a recheck's time goes (instrumented loop, one pass of {args.n} crops per database):

{split}

{notes}
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
