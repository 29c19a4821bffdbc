"""CLI: users create, seed-demo, audit verify."""
from __future__ import annotations

from backend.extensions import db
from backend.models import Enrollment, Lesson, User


def test_users_create_and_seed_demo(app):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["users", "create", "--username", "boss", "--password", "pw-0123456789",
                            "--role", "supervisor", "--region", "3501"])
    assert r.exit_code == 0, r.output
    assert db.session.execute(db.select(User).where(User.username == "boss")).scalar().region_code == "3501"
    r = runner.invoke(args=["users", "create", "--username", "boss", "--password", "pw-0123456789",
                            "--role", "supervisor", "--region", "3501"])
    assert r.exit_code != 0 and "username_taken" in r.output
    r = runner.invoke(args=["seed-demo"])
    assert r.exit_code == 0, r.output
    assert "school / demo-pass-2026" in r.output and "device_id" in r.output
    assert db.session.query(Lesson).count() == 6 and db.session.query(Enrollment).count() == 3
    assert "already present" in runner.invoke(args=["seed-demo", "--if-empty"]).output
    r = runner.invoke(args=["audit", "verify"])
    assert r.exit_code == 0 and "intact" in r.output


def test_demo_logins_work(app, client):
    app.test_cli_runner().invoke(args=["seed-demo"])
    r = client.post("/api/v1/auth/login", json={"username": "school", "password": "demo-pass-2026"})
    assert r.status_code == 200 and r.get_json()["user"]["role"] == "institution"
    r = client.post("/api/v1/auth/wechat", json={"code": "demo1"})
    assert r.get_json()["bound"] is True
