"""GET /audit (supervisor, admin; paged, filtered, scoped) and the append-only guard on the ORM path."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from backend.clock import now
from backend.extensions import db
from backend.models import AuditEntry
from backend.services import audit
from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import API, complete_and_approve, error

app_config, world = fx.app_config, fx.world  # shared fixtures


def test_audit_listing_filters_paging_and_scope(client, clock, world, staff):
    w = world
    claim_id = complete_and_approve(client, clock, w)["subsidy_claim_id"]
    _, admin_h = staff("admin")
    # the whole log is for admins; supervisors read one object's trail inside their region
    r = client.get(f"{API}/audit?per_page=2", headers=w.sup1_h)
    assert r.status_code == 403 and r.get_json()["error"]["details"]["reason"] == "filter_by_object"
    r = client.get(f"{API}/audit?per_page=2", headers=admin_h)
    assert r.status_code == 200 and len(r.get_json()) == 2
    total = int(r.headers["X-Total-Count"])
    assert total >= 4
    r2 = client.get(f"{API}/audit?per_page=2&page=2", headers=admin_h)
    assert r2.get_json()[0]["id"] > r.get_json()[-1]["id"]
    first = r.get_json()[0]
    assert set(first) >= {"id", "at", "actor", "action", "object_type", "object_id", "before", "after",
                          "request_id", "prev_hash", "hash"}
    assert datetime.fromisoformat(first["at"]).utcoffset() == timedelta(0)  # ISO 8601 in UTC, offset written

    r = client.get(f"{API}/audit?object_type=plan&object_id={w.plan.id}", headers=w.sup1_h)
    actions = [e["action"] for e in r.get_json()]
    assert actions == ["results.import", "plan.completion_submit", "plan.completion_approve"]
    submit = r.get_json()[1]
    assert submit["before"] == {"status": "in_progress"} and submit["after"] == {"status": "completion_submitted"}
    assert submit["request_id"]
    r = client.get(f"{API}/audit?action=subsidy_claim.create", headers=admin_h)
    assert [e["object_id"] for e in r.get_json()] == [str(claim_id)]

    _, far_h = staff("supervisor", region_code="3502")
    r = client.get(f"{API}/audit?object_type=plan&object_id={w.plan.id}", headers=far_h)
    assert r.status_code == 403 and error(r) == "out_of_scope"
    assert client.get(f"{API}/audit?object_type=plan&object_id={w.plan.id}", headers=admin_h).status_code == 200
    r = client.get(f"{API}/audit?object_type=plan&object_id=999999", headers=w.sup1_h)
    assert r.status_code == 404
    assert client.get(f"{API}/audit", headers=w.inst_h).status_code == 403
    assert client.get(f"{API}/audit", headers=w.a_h).status_code == 403
    assert client.get(f"{API}/audit").status_code == 401
    r = client.get(f"{API}/audit?per_page=0", headers=admin_h)
    assert r.status_code == 422


def test_orm_cannot_change_or_delete_entries(app):
    entry = audit.record("test:x", "thing.create", "thing", 1, now(), after={"a": 1})
    db.session.commit()
    entry.actor = "someone-else"
    with pytest.raises(PermissionError):
        db.session.flush()
    db.session.rollback()
    entry = db.session.execute(select(AuditEntry)).scalar_one()
    db.session.delete(entry)
    with pytest.raises(PermissionError):
        db.session.flush()
    db.session.rollback()
    assert db.session.execute(select(AuditEntry.actor)).scalar_one() == "test:x"


def test_cli_verify_reports_an_intact_chain(app):
    for i in range(3):
        audit.record("test:x", "thing.create", "thing", i, now(), after={"i": i})
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 3 entries" in result.output
