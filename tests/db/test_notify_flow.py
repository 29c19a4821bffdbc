"""Notifications end to end on SQLite and PostgreSQL: the clock moves through a plan while two workers run
the scan, the routing and the sends at the same moment; every kind reaches each person exactly once (inbox
row, delivery and stub outbox message). Quiet hours hold pushes; a failing channel is retried with backoff,
then recorded and shown to admins."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import (
    Certificate,
    MakeupRequest,
    Notification,
    NotificationDelivery,
    NotificationOutboxMessage,
    NotificationPreference,
    SubsidyClaim,
    SubsidyLine,
    Voucher,
    WechatAccount,
    WechatSubscription,
)
from backend.services.notify_delivery import route_new, send_due
from backend.services.notify_scan import queue_due
from tests.api.outcomes_fixtures import attend, enroll, lessons_of, make_batch, make_person, make_plan, sh
from tests.db.jobs_helpers import jobs_queue  # noqa: F401 - fixture: the job queue in tmp_path

API = "/api/v1"


def _worker_pass(app, now) -> None:
    """What one worker's notify sweeps do at `now`: scan, route, send (each its own units of work)."""
    with app.app_context():
        try:
            queue_due(now, app.config)
            db.session.commit()
            route_new(now)
            send_due(now, app.config)
        finally:
            db.session.remove()


def run_two_workers(app, now) -> None:
    """Two workers run the whole notify pass at the same moment; any error fails the test."""
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker():
        try:
            start.wait()
            _worker_pass(app, now)
        except BaseException as exc:  # noqa: BLE001 — reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


@pytest.fixture
def plan_world(app, staff, make_institution):
    """A plan of three 09:00-12:00 lessons (2-4 March 2026, Shanghai); Li comes to every lesson and is
    subscribed on WeChat for lesson reminders, Wang never comes; both have a phone on record."""
    inst = make_institution(region_code="350102")
    user, _ = staff("supervisor", region_code="3501")
    plan = make_plan(inst, days=3, start=date(2026, 3, 2), status="in_progress", title="电工培训")
    li, wang = make_person("李四", "201"), make_person("王五", "202")
    for p, phone in ((li, "13900000001"), (wang, "13900000002")):
        p.phone = phone
        enroll(plan, p.id)
    lessons = lessons_of(plan)
    for lesson in lessons:
        attend(lesson, li.id)
    batch = make_batch(user.id)
    voucher = Voucher(code="NOTIFYTEST0001", batch_id=batch.id, person_id=li.id, status="claimed",
                      claimed_at=sh(2026, 2, 1), expires_at=sh(2026, 3, 10, 9))
    db.session.add_all([voucher, WechatAccount(openid="stub-li", person_id=li.id, created_at=sh(2026, 1, 1),
                                               bound_at=sh(2026, 1, 1)),
                        WechatSubscription(person_id=li.id, template="lesson_reminder", subscribed=True,
                                           updated_at=sh(2026, 1, 1))])
    db.session.commit()
    return {"inst": inst, "user": user, "plan": plan, "li": li.id, "wang": wang.id, "lessons": lessons,
            "voucher": voucher.id}


def _steps(start: datetime, end: datetime, every: timedelta, extra=()) -> list[datetime]:
    out, t = set(extra), start
    while t <= end:
        out.add(t)
        t += every
    return sorted(out)


def test_each_kind_once_per_person_object_and_window_with_two_workers(app, clock, plan_world):
    w = plan_world
    lessons = w["lessons"]
    actions = {
        # Make-up decided, certificate issued, claim approved (publicity until the 8th), then disbursed.
        sh(2026, 3, 4, 13): lambda: _decide_makeup(w),
        sh(2026, 3, 5, 10): lambda: _certificate_and_claim(w),
        sh(2026, 3, 9, 10): lambda: _disburse(w),
    }
    extra = [lesson.starts_at + d for lesson in lessons for d in (timedelta(minutes=-50), timedelta(minutes=20))]
    steps = _steps(sh(2026, 3, 1, 6), sh(2026, 3, 10, 8), timedelta(hours=6), extra + list(actions))
    for now in steps:
        clock.set(now)
        if now in actions:
            actions[now]()
        run_two_workers(app, now)

    rows = db.session.execute(select(Notification.person_id, Notification.kind, Notification.object_type,
                                     Notification.object_id, Notification.window_key)).all()
    assert max(Counter(rows).values()) == 1
    li, wang = w["li"], w["wang"]
    got = Counter((r.person_id, r.kind, r.window_key) for r in rows)
    expected = Counter({
        (li, "voucher_expiring", "7d"): 1, (li, "voucher_expiring", "1d"): 1,
        (li, "lesson_reminder", "1d"): 3, (li, "lesson_reminder", "1h"): 3,
        (wang, "lesson_reminder", "1d"): 3, (wang, "lesson_reminder", "1h"): 3,
        (wang, "missed_check_in", ""): 3, (wang, "absence_risk", ""): 1,
        (li, "makeup_decided", ""): 1, (li, "certificate_issued", ""): 1,
        (li, "subsidy_status", "publicity"): 1, (li, "subsidy_status", "approved"): 1,
        (li, "subsidy_status", "disbursed"): 1})
    assert got == expected

    # One delivery per notification, every one sent once: Li's lesson reminders on WeChat, the rest by SMS.
    deliveries = db.session.execute(select(NotificationDelivery.notification_id, NotificationDelivery.channel,
                                           NotificationDelivery.status, NotificationDelivery.attempts)).all()
    assert len(deliveries) == len(rows) == len({d.notification_id for d in deliveries})
    assert {(d.status, d.attempts) for d in deliveries} == {("sent", 1)}
    outbox = db.session.execute(select(NotificationOutboxMessage.channel, NotificationOutboxMessage.recipient,
                                       NotificationOutboxMessage.kind)).all()
    assert len(outbox) == len(rows)
    assert Counter(o.channel for o in outbox) == Counter({"wechat": 6, "sms": len(rows) - 6})
    assert {o.recipient for o in outbox if o.channel == "wechat"} == {"stub-li"}
    # Escalations point at the plan's institution and region.
    esc = db.session.execute(select(Notification.institution_id, Notification.region_code).where(
        Notification.kind.in_(("missed_check_in", "absence_risk")))).all()
    assert set(esc) == {(w["inst"].id, "350102")}
    # Nothing more happens when the same moments are replayed (a restarted worker).
    db.session.commit()  # the reads above hold SQLite's lock (every transaction is BEGIN IMMEDIATE)
    for now in steps[-3:]:
        run_two_workers(app, now)
    assert db.session.execute(select(func.count()).select_from(Notification)).scalar() == len(rows)
    db.session.commit()


def _decide_makeup(w):
    from backend.models import Enrollment
    e = db.session.execute(select(Enrollment).where(Enrollment.person_id == w["li"])).scalar_one()
    db.session.add(MakeupRequest(lesson_id=w["lessons"][2].id, enrollment_id=e.id, person_id=w["li"], kind="check_out",
                                 reason="忘记签退", sign_sheet_path="x.jpg", panorama_path="y.jpg", status="approved",
                                 created_by=w["user"].id, created_at=sh(2026, 3, 4, 12, 30), decided_by=w["user"].id,
                                 decided_at=sh(2026, 3, 4, 12, 45)))
    db.session.commit()


def _certificate_and_claim(w):
    plan = w["plan"]
    db.session.add(Certificate(number="C2026030500001", plan_id=plan.id, person_id=w["li"],
                               institution_id=w["inst"].id, occupation_code=plan.occupation_code,
                               issued_on=date(2026, 3, 5)))
    claim = SubsidyClaim(plan_id=plan.id, institution_id=w["inst"].id, region_code="350102", status="approved",
                         total_fen=36000, explanations=[], created_at=sh(2026, 3, 5, 9), approved_by=w["user"].id,
                         approved_at=sh(2026, 3, 5, 9, 30), publicity_ends_at=sh(2026, 3, 8, 9, 30))
    db.session.add(claim)
    db.session.flush()
    db.session.add(SubsidyLine(claim_id=claim.id, person_id=w["li"], credited_hours=Decimal(12), amount_fen=36000,
                               payee="institution", year=2026))
    db.session.commit()


def _disburse(w):
    from backend.models import User
    other = User(username="payer", password_hash="x", role="supervisor", region_code="3501",
                 created_at=sh(2026, 1, 1))
    db.session.add(other)
    db.session.flush()
    claim = db.session.execute(select(SubsidyClaim)).scalar_one()
    claim.status, claim.disbursed_by, claim.disbursed_at = "disbursed", other.id, sh(2026, 3, 9, 9)
    db.session.commit()


def _one_sms(person_id, phone, now, kind="certificate_issued", object_id=1):
    """A queued notification for `person_id` (routed to SMS)."""
    from backend.models import Person
    db.session.get(Person, person_id).phone = phone
    db.session.add(Notification(person_id=person_id, kind=kind, object_type="certificate", object_id=object_id,
                                window_key="", title="培训合格证书已发放", body="证书编号C-1", details={},
                                created_at=now))
    db.session.commit()
    assert route_new(now) == 1


def _delivery():
    d = db.session.execute(select(NotificationDelivery).execution_options(populate_existing=True)).scalar_one()
    db.session.commit()
    return d


def _outbox_count():
    n = db.session.execute(select(func.count()).select_from(NotificationOutboxMessage)).scalar()
    db.session.commit()
    return n


def test_quiet_hours_hold_the_push_until_they_end(app):
    person = make_person("赵六", "203")
    db.session.add(NotificationPreference(person_id=person.id, kinds={}, quiet_from="22:00", quiet_to="07:30",
                                          updated_at=sh(2026, 3, 1)))
    db.session.commit()
    night = sh(2026, 3, 1, 23)
    _one_sms(person.id, "13900000003", night)
    send_due(night, app.config)
    d = _delivery()
    assert (d.status, d.attempts, d.next_try_at) == ("pending", 0, sh(2026, 3, 2, 7, 30))
    send_due(sh(2026, 3, 2, 7, 29), app.config)
    assert _outbox_count() == 0
    send_due(sh(2026, 3, 2, 7, 30), app.config)
    assert _outbox_count() == 1 and _delivery().status == "sent"


def test_kind_turned_off_is_not_pushed_but_stays_in_the_inbox(app):
    person = make_person("钱七", "204")
    db.session.add(NotificationPreference(person_id=person.id, kinds={"certificate_issued": False},
                                          updated_at=sh(2026, 3, 1)))
    db.session.commit()
    now = sh(2026, 3, 1, 12)
    from backend.models import Person
    db.session.get(Person, person.id).phone = "13900000004"
    db.session.add(Notification(person_id=person.id, kind="certificate_issued", object_type="certificate",
                                object_id=1, window_key="", title="t", body="b", details={}, created_at=now))
    db.session.commit()
    route_new(now)
    assert db.session.execute(select(func.count()).select_from(NotificationDelivery)).scalar() == 0
    assert db.session.execute(select(Notification.routed_at)).scalar() == now


def test_failing_channel_is_retried_with_backoff_then_recorded(app, client, staff):
    app.config["NOTIFY_STUB_FAIL"] = "sms"
    person = make_person("孙八", "205")
    now = sh(2026, 3, 1, 12)
    _one_sms(person.id, "13900000005", now)
    tries = [now]
    for _ in range(5):
        send_due(tries[-1], app.config)
        d = _delivery()
        if d.status == "failed":
            break
        # Not retried before its time.
        send_due(d.next_try_at - timedelta(seconds=1), app.config)
        assert _delivery().attempts == d.attempts
        tries.append(d.next_try_at)
    d = _delivery()
    assert (d.status, d.attempts, d.error) == ("failed", 5, "stub_fault")
    assert [b - a for a, b in zip(tries, tries[1:], strict=False)] == [
        timedelta(minutes=1), timedelta(minutes=4), timedelta(minutes=16), timedelta(minutes=64)]
    assert _outbox_count() == 0
    _, admin_h = staff("admin")
    r = client.get(f"{API}/notifications/failures", headers=admin_h)
    assert r.status_code == 200
    assert [(f["channel"], f["kind"], f["attempts"], f["error"]) for f in r.get_json()] == [
        ("sms", "certificate_issued", 5, "stub_fault")]
    _, sup_h = staff("supervisor")
    assert client.get(f"{API}/notifications/failures", headers=sup_h).status_code == 403


def test_a_channel_that_recovers_sends_on_the_retry(app):
    app.config["NOTIFY_STUB_FAIL"] = "sms"
    person = make_person("周九", "206")
    now = sh(2026, 3, 1, 12)
    _one_sms(person.id, "13900000006", now)
    send_due(now, app.config)
    assert (_delivery().status, _delivery().error) == ("pending", "stub_fault")
    app.config["NOTIFY_STUB_FAIL"] = ""
    send_due(now + timedelta(minutes=1), app.config)
    d = _delivery()
    assert (d.status, d.attempts, d.error) == ("sent", 2, None)
    assert _outbox_count() == 1


def test_a_reminder_routed_too_late_is_not_pushed(app):
    person = make_person("吴十", "207")
    now = sh(2026, 3, 2, 10)
    from backend.models import Person
    db.session.get(Person, person.id).phone = "13900000007"
    db.session.add(Notification(person_id=person.id, kind="lesson_reminder", object_type="lesson", object_id=1,
                                window_key="1h", title="t", body="b", created_at=now,
                                details={"push_until": sh(2026, 3, 2, 9).isoformat()}))
    db.session.commit()
    route_new(now)
    send_due(now, app.config)
    d = _delivery()
    assert (d.status, d.error) == ("failed", "too_late") and _outbox_count() == 0


def test_retention_purges_old_notifications_with_their_pushes(app):
    from backend.services import retention
    person = make_person("郑一", "208")
    old, new = sh(2021, 1, 5, 12), sh(2026, 3, 1, 12)
    _one_sms(person.id, "13900000008", old, object_id=1)
    send_due(old, app.config)
    _one_sms(person.id, "13900000008", new, object_id=2)
    send_due(new, app.config)
    assert _outbox_count() == 2
    out = retention.apply(new, 4)
    db.session.commit()
    assert out["notifications"] == 1 and _outbox_count() == 1
    assert db.session.execute(select(Notification.object_id)).scalars().all() == [2]
    assert db.session.execute(select(func.count()).select_from(NotificationDelivery)).scalar() == 1


def test_the_sweeps_read_the_servers_clock_and_send_within_the_per_minute_budget(app, clock, jobs_queue):
    from backend.jobs.sweeps import queue_notifications, send_notifications
    from backend.models import Person
    app.config["NOTIFY_SMS_PER_MIN"] = 2
    # The server's clock is days ahead of the wall clock: the sweeps read it, not datetime.now.
    clock.set(datetime(2031, 5, 4, 3, 0, tzinfo=sh(2026, 1, 1).tzinfo))
    now = clock()
    person = make_person("冯二", "209")
    db.session.get(Person, person.id).phone = "13900000009"
    for i in range(5):
        db.session.add(Notification(person_id=person.id, kind="certificate_issued", object_type="certificate",
                                    object_id=i + 1, window_key="", title="t", body="b", details={},
                                    created_at=now - timedelta(days=1)))
    db.session.commit()
    result = queue_notifications.call_local()
    assert result["routed"] == 5
    assert send_notifications.call_local() == {"sent": 2}
    # Another run (or worker) within the same minute finds the budget spent.
    clock.advance(seconds=30)
    assert send_notifications.call_local() == {}
    clock.advance(seconds=31)
    assert send_notifications.call_local() == {"sent": 2}
    clock.advance(seconds=61)
    assert send_notifications.call_local() == {"sent": 1}
    sent_at = db.session.execute(select(NotificationDelivery.sent_at).distinct().order_by(
        NotificationDelivery.sent_at)).scalars().all()
    db.session.commit()
    assert sent_at == [now, now + timedelta(seconds=61), now + timedelta(seconds=122)]
