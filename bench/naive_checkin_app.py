"""A standalone naive check-in app: the baseline of bench/checkin_vs_naive.py. Nothing of the product.

What a new developer would write for "phone check-in" with the usual stack: Flask, Flask-SQLAlchemy's
default session, PyJWT and geographiclib. One table; per request: verify the bearer JWT (HS256,
audience, issuer, expiry), parse the JSON body, compute the geodesic distance to the one site, refuse
when outside the fence, insert one row with `session.add` + `session.commit` (expire_on_commit=True,
the library default, so reading the new id afterwards reloads the row) and answer with JSON. No
enrolment, time window, sequence, replay or risk checks, no rate limit, no live publication, no log.

Served by gunicorn: `gunicorn -c bench/naive_gunicorn.conf.py 'bench.naive_checkin_app:create_app()'`.
Settings from the environment: DATABASE_URL, SECRET_KEY (urlsafe base64, as the product's),
JWT_ISSUER, NAIVE_SITE ("lat,lon,radius_m"), DB_POOL_SIZE.
"""
from __future__ import annotations

import base64
import os
from datetime import UTC, datetime

import jwt
from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from geographiclib.geodesic import Geodesic
from sqlalchemy import DateTime, Float, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

db = SQLAlchemy()


class NaiveCheckin(db.Model):
    """One row per accepted check-in."""

    __tablename__ = "naive_checkins"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    subject: Mapped[str] = mapped_column(String(64))
    lesson_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)
    distance_m: Mapped[float] = mapped_column(Float)
    client_time: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _key(secret: str) -> bytes:
    # The product's SECRET_KEY is urlsafe base64 of 32 random bytes; the signing key is those bytes.
    return base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))


def create_app() -> Flask:
    """The naive app, configured from the environment."""
    app = Flask(__name__)
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("postgresql"):
        # The same pool size as the product (the library default of 5 + 10 overflow would reopen
        # connections after every burst and make the baseline weaker than it need be).
        size = int(os.environ.get("DB_POOL_SIZE", "20"))
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": size,
                                                   "max_overflow": int(os.environ.get("DB_MAX_OVERFLOW", "10"))}
    db.init_app(app)
    if url.startswith("sqlite"):
        with app.app_context():
            # The same SQLite settings as the product (WAL, synchronous=NORMAL, a busy timeout):
            # the defaults would fsync on every commit and fail concurrent writers with "locked".
            @event.listens_for(db.engine, "connect")
            def _pragmas(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA busy_timeout=30000")
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()
    with app.app_context(), db.engine.begin() as conn:
        if url.startswith("postgresql"):
            # Both workers create the table at boot; unserialized, one of them can lose the race for the
            # catalog entry on a fresh database (UniqueViolation on pg_type) and gunicorn stops.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(717)")
        db.metadata.create_all(conn)
    key = _key(os.environ["SECRET_KEY"])
    issuer = os.environ.get("JWT_ISSUER", "peixunquan")
    site_lat, site_lon, radius = (float(x) for x in os.environ.get("NAIVE_SITE", "26.0785,119.2965,200").split(","))

    @app.get("/healthz")
    def healthz():
        return "ok"

    @app.post("/checkin")
    def checkin():
        header = request.headers.get("Authorization", "")
        try:
            claims = jwt.decode(header[7:], key, algorithms=["HS256"], audience="peixunquan-api", issuer=issuer)
        except jwt.PyJWTError:
            return jsonify(error="unauthorized"), 401
        body = request.get_json()
        lat, lon = float(body["lat"]), float(body["lon"])
        distance = Geodesic.WGS84.Inverse(lat, lon, site_lat, site_lon)["s12"]
        if distance > radius:
            return jsonify(error="out_of_fence", distance_m=distance), 422
        row = NaiveCheckin(event_id=body["event_id"], subject=claims["sub"], lesson_id=int(body["lesson_id"]),
                           kind=body["kind"], lat=lat, lon=lon, accuracy_m=float(body["accuracy_m"]),
                           distance_m=distance, client_time=body["client_time"], created_at=datetime.now(UTC))
        db.session.add(row)
        db.session.commit()
        return jsonify(event_id=row.event_id, id=row.id, accepted=True, distance_m=round(distance, 1)), 201

    return app
