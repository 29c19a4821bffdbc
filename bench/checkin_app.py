"""The product app plus two bench-only baselines, served by gunicorn in bench/checkin_bench.py.

- GET  /bench/hello: a bare Flask view (the framework's ceiling under these gunicorn settings).
- POST /bench/naive: verify the bearer JWT, insert one row through Flask-SQLAlchemy the default
  way (a session with expire_on_commit=True, `add` + `commit`, then read the new id, which
  reloads the row) and return it: the usual cost of one database write per request.

Nothing here is part of the product; the bench table exists only in the bench database.
"""
from __future__ import annotations

from datetime import UTC, datetime

import jwt
from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from backend import create_app
from backend.config import key_bytes
from backend.extensions import db
from backend.security.tokens import ACCESS_AUD, ALGORITHM


class BenchRow(db.Model):
    """One row per naive request."""

    __tablename__ = "bench_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


baselines = Blueprint("bench", __name__)
_naive_session = None


def _default_session():
    # Flask-SQLAlchemy's own scoped session, with the library defaults (expire_on_commit=True),
    # which is what "the default way" gets; the product's session turns that off.
    global _naive_session
    if _naive_session is None:
        _naive_session = db._make_scoped_session({})
    return _naive_session


@baselines.get("/bench/hello")
def hello():
    return "hello"


@baselines.post("/bench/naive")
def naive():
    header = request.headers.get("Authorization", "")
    try:
        claims = jwt.decode(header[7:], key_bytes(current_app.config["SECRET_KEY"]), algorithms=[ALGORITHM],
                            audience=ACCESS_AUD, issuer=current_app.config["JWT_ISSUER"])
    except jwt.PyJWTError:
        return jsonify(error="unauthorized"), 401
    session = _default_session()
    row = BenchRow(subject=claims["sub"], payload=request.get_json(), created_at=datetime.now(UTC))
    session.add(row)
    session.commit()
    return jsonify(id=row.id, subject=row.subject), 201


def create_bench_app():
    """The product app with the baselines mounted (gunicorn 'bench.checkin_app:create_bench_app()')."""
    app = create_app({"ACCESS_LOG": False})
    app.register_blueprint(baselines)

    @app.teardown_appcontext
    def _remove_naive_session(_exc):
        if _naive_session is not None:
            _naive_session.remove()

    return app
