"""`flask --app backend retention [--apply]`: 4-year retention, face templates first, then anonymisation."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from backend.extensions import db
from backend.models import AuditEntry, IdempotencyRecord, Person, SubsidyLine, WechatAccount
from backend.services import persons, retention
from backend.services.audit import verify_chain
from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import enroll, make_person, make_plan, sh
from tests.conftest import make_id_number

app_config, world = fx.app_config, fx.world  # shared fixtures


def _run(app, *args):
    result = app.test_cli_runner().invoke(args=["retention", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _fixture_data(w):
    # A face template on an inactive person and on an active one.
    for pid in (w.b, w.e):
        p = db.session.get(Person, pid)
        p.face_template_enc, p.face_consent_at = b"template", sh(2026, 2, 1)
    recent = make_person("新人", "301")
    recent.face_template_enc, recent.face_consent_at = b"template", sh(2030, 6, 1)
    recent_plan = make_plan(w.inst, title="新近培训")
    enroll(recent_plan, recent.id).created_at = sh(2030, 6, 1)
    recent.created_at = sh(2026, 1, 1)
    db.session.add(IdempotencyRecord(scope="sub:x", key="k1", request_hash="h", state="done",
                                      created_at=sh(2026, 3, 1)))
    db.session.commit()
    return recent


def test_report_changes_nothing_and_apply_anonymises_the_inactive(app, client, clock, world):
    w = world
    recent = _fixture_data(w)
    clock.set(sh(2031, 3, 10, 9))
    audit_before = db.session.execute(select(func.count()).select_from(AuditEntry)).scalar()

    out = _run(app)
    assert "cutoff 2027-03-10T00:00:00+08:00" in out
    # A, B, C, D, E are inactive; F has an approved claim still open; the recent person is active.
    assert "persons_to_anonymise: 5" in out and "face_templates_to_delete: 2" in out
    assert "idempotency_records_to_delete: 1" in out and "report only" in out
    db.session.expire_all()
    assert db.session.get(Person, w.b).name == "王五"

    out = _run(app, "--apply")
    assert "persons_anonymised: 5" in out and "face_templates_deleted: 2" in out
    db.session.expire_all()
    for pid in (w.a, w.b, w.c, w.d, w.e):
        p = db.session.get(Person, pid)
        assert p.name == "已匿名" and p.phone is None and p.face_template_enc is None and p.groups == []
        assert p.id_number_enc == b"" and p.id_number_index.startswith("anon:") and p.anonymised_at is not None
        assert p.id_number_masked.startswith("3501") or p.id_number_masked.startswith("1101")  # kept, masked
    assert db.session.get(Person, w.f).name == "孙八"
    kept = db.session.get(Person, recent.id)
    assert kept.name == "新人" and kept.face_template_enc == b"template"
    assert db.session.execute(select(WechatAccount.person_id).where(WechatAccount.openid == "stub-world-a")).scalar() \
        is None
    assert db.session.execute(select(func.count()).select_from(IdempotencyRecord)).scalar() == 0
    # The audit log only grew, and still verifies; subsidy records stay.
    audit_after = db.session.execute(select(func.count()).select_from(AuditEntry)).scalar()
    assert audit_after == audit_before + 6
    assert verify_chain()[0] is True
    assert db.session.execute(select(func.count()).select_from(SubsidyLine)).scalar() == 1

    # Running again finds nothing; the person can come back and registers afresh.
    out = _run(app, "--apply")
    assert "persons_anonymised: 0" in out
    back = persons.match_or_create("张三", make_id_number("350102", "19900307", "011"), clock())
    assert back.id != w.a and back.name == "张三"


def test_cutoff_is_shanghai_calendar_years():
    assert retention.cutoff(datetime(2031, 3, 9, 16, 30, tzinfo=UTC), 4) == sh(2027, 3, 10)
    assert retention.cutoff(sh(2028, 2, 29, 12), 4) == sh(2024, 2, 29)
    assert retention.cutoff(sh(2029, 2, 28, 12), 1) == sh(2028, 2, 28)
    assert retention.cutoff(sh(2028, 2, 29, 12), 1) == sh(2027, 2, 28)
    assert retention.cutoff(sh(2031, 1, 1), 4) - retention.cutoff(sh(2030, 12, 31), 4) == timedelta(days=1)


def test_nothing_old_nothing_done(app, clock):
    clock.set(sh(2026, 3, 10))
    out = _run(app, "--apply")
    assert "persons_anonymised: 0" in out
    assert db.session.execute(select(func.count()).select_from(AuditEntry)).scalar() == 0
    result = app.test_cli_runner().invoke(args=["retention", "--years", "0"])
    assert result.exit_code != 0
