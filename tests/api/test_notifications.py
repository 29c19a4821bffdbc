"""The notification endpoints of API.md: inbox, read, preferences with quiet hours and WeChat consents,
escalations for institutions and supervisors, the stub outbox; and the live WeChat adapter's access token."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import Notification, NotificationDelivery, WechatAccessToken, WechatAccount
from backend.services import notify_channels
from backend.services.notify_delivery import route_new, send_due
from tests.api.outcomes_fixtures import make_person, make_plan

API = "/api/v1"
T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def _note(person_id, kind="certificate_issued", object_id=1, at=T0, **kw) -> Notification:
    n = Notification(person_id=person_id, kind=kind, object_type=kw.pop("object_type", "certificate"),
                     object_id=object_id, window_key=kw.pop("window_key", ""), title=kw.pop("title", "标题"),
                     body="内容", details=kw.pop("details", {}), created_at=at, **kw)
    db.session.add(n)
    db.session.commit()
    return n


def test_inbox_newest_first_and_read_once(client, clock, trainee):
    clock.set(T0)
    pid, h = trainee()
    other_pid, _ = trainee(name="李四")
    older = _note(pid, object_id=1, at=T0 - timedelta(hours=2), title="旧")
    newer = _note(pid, kind="subsidy_status", object_type="claim", object_id=7, window_key="disbursed", title="新")
    theirs = _note(other_pid)
    r = client.get(f"{API}/me/notifications", headers=h)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "2"
    items = r.get_json()
    assert [i["id"] for i in items] == [newer.id, older.id]
    assert items[0] == {"id": newer.id, "kind": "subsidy_status", "title": "新", "body": "内容",
                        "object_type": "subsidy_claim", "object_id": 7, "created_at": newer.created_at.isoformat(),
                        "read_at": None}
    clock.set(T0 + timedelta(minutes=5))
    r = client.post(f"{API}/me/notifications/{older.id}/read", headers=h)
    assert r.status_code == 200 and r.get_json() == {"read_at": (T0 + timedelta(minutes=5)).isoformat()}
    clock.set(T0 + timedelta(minutes=9))
    assert client.post(f"{API}/me/notifications/{older.id}/read", headers=h).get_json()["read_at"] == \
        (T0 + timedelta(minutes=5)).isoformat()
    r = client.post(f"{API}/me/notifications/{theirs.id}/read", headers=h)
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    _, unbound = trainee(bind=False)
    r = client.get(f"{API}/me/notifications", headers=unbound)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "identity_not_bound"


def test_preferences_defaults_partial_updates_and_validation(client, clock, trainee):
    clock.set(T0)
    _, h = trainee()
    r = client.get(f"{API}/me/notification-preferences", headers=h)
    assert r.status_code == 200
    body = r.get_json()
    assert body["quiet_hours"] is None and all(body["kinds"].values()) and not any(body["wechat_subscribed"].values())
    assert set(body["kinds"]) == {"voucher_expiring", "lesson_reminder", "missed_check_in", "absence_risk",
                                  "makeup_decided", "certificate_issued", "subsidy_status"}
    r = client.put(f"{API}/me/notification-preferences", headers=h, json={
        "kinds": {"lesson_reminder": False}, "quiet_hours": {"from": "22:00", "to": "07:30"},
        "wechat_subscribed": {"lesson_reminder": True, "missed_check_in": True}})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["kinds"]["lesson_reminder"] is False and body["kinds"]["voucher_expiring"] is True
    assert body["quiet_hours"] == {"from": "22:00", "to": "07:30"}
    assert body["wechat_subscribed"]["missed_check_in"] is True and body["wechat_subscribed"]["subsidy_status"] is False
    # Parts left out stay; a later consent answer can withdraw one template.
    r = client.put(f"{API}/me/notification-preferences", headers=h, json={"wechat_subscribed": {"missed_check_in": False}})
    body = r.get_json()
    assert body["kinds"]["lesson_reminder"] is False and body["quiet_hours"] == {"from": "22:00", "to": "07:30"}
    assert body["wechat_subscribed"]["missed_check_in"] is False and body["wechat_subscribed"]["lesson_reminder"] is True
    assert client.put(f"{API}/me/notification-preferences", headers=h, json={"quiet_hours": None}).get_json()[
        "quiet_hours"] is None
    for bad, field in (({"quiet_hours": {"from": "25:00", "to": "07:00"}}, "quiet_hours.from"),
                       ({"quiet_hours": {"from": "22:00", "to": "7"}}, "quiet_hours.to"),
                       ({"kinds": {"spam": True}}, "kinds"), ({"wechat_subscribed": {"spam": True}}, "wechat_subscribed")):
        r = client.put(f"{API}/me/notification-preferences", headers=h, json=bad)
        assert r.status_code == 422 and r.get_json()["error"]["code"] == "validation_error", bad
        assert field in r.get_json()["error"]["details"]["fields"], r.get_json()


def test_wechat_consent_routes_the_kind_to_wechat(client, clock, trainee):
    clock.set(T0)
    pid, h = trainee()
    client.put(f"{API}/me/notification-preferences", headers=h, json={"wechat_subscribed": {"lesson_reminder": True}})
    _note(pid, kind="lesson_reminder", object_type="lesson", object_id=3, window_key="1d")
    _note(pid, kind="certificate_issued", object_id=4)
    route_new(T0)
    channels = dict(db.session.execute(select(Notification.kind, NotificationDelivery.channel).join(
        NotificationDelivery, NotificationDelivery.notification_id == Notification.id)).all())
    assert channels == {"lesson_reminder": "wechat", "certificate_issued": "sms"}


def test_escalations_scoped_to_institution_and_region(client, clock, staff, make_institution):
    clock.set(T0)
    mine, theirs = make_institution("350102"), make_institution("350203")
    p1, p2 = make_plan(mine, start=date(2026, 3, 2), title="电工"), make_plan(theirs, start=date(2026, 3, 2), title="焊工")
    a, b = make_person("甲一", "301"), make_person("乙二", "302")
    _note(a.id, kind="missed_check_in", object_type="lesson", object_id=1, plan_id=p1.id, institution_id=mine.id,
          region_code="350102")
    _note(a.id, kind="absence_risk", object_type="plan", object_id=p1.id, plan_id=p1.id, institution_id=mine.id,
          region_code="350102", details={"reason": "below_bar"})
    _note(b.id, kind="missed_check_in", object_type="lesson", object_id=9, plan_id=p2.id, institution_id=theirs.id,
          region_code="350203")
    _note(b.id, kind="certificate_issued", object_id=2)  # not an escalation
    _, inst_h = staff("institution", institution=mine)
    r = client.get(f"{API}/escalations", headers=inst_h)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["counts"] == {"missed_check_in": 1, "absence_risk": 1}
    assert body["by_plan"] == [{"plan_id": p1.id, "plan_title": "电工", "missed_check_in": 1, "absence_risk": 1}]
    assert {(i["kind"], i["person_name"], i["reason"]) for i in body["items"]} == {
        ("missed_check_in", "甲*", None), ("absence_risk", "甲*", "below_bar")}
    r = client.get(f"{API}/escalations?plan_id={p2.id}", headers=inst_h)
    assert r.status_code == 403
    _, sup_h = staff("supervisor", region_code="3501")
    assert client.get(f"{API}/escalations", headers=sup_h).get_json()["counts"] == {"missed_check_in": 1,
                                                                                   "absence_risk": 1}
    assert client.get(f"{API}/escalations?region_code=350203", headers=sup_h).status_code == 403
    _, admin_h = staff("admin")
    assert client.get(f"{API}/escalations", headers=admin_h).get_json()["counts"] == {"missed_check_in": 2,
                                                                                     "absence_risk": 1}
    assert client.get(f"{API}/escalations?region_code=3502", headers=admin_h).get_json()["counts"] == {
        "missed_check_in": 1, "absence_risk": 0}


def test_dev_outbox_only_in_stub_mode_for_admins(app, client, clock, staff, trainee):
    clock.set(T0)
    pid, h = trainee()
    _note(pid)
    route_new(T0)
    send_due(T0, app.config)
    _, admin_h = staff("admin")
    r = client.get(f"{API}/dev/notifications", headers=admin_h)
    assert r.status_code == 200
    assert [(m["channel"], m["to"], m["kind"]) for m in r.get_json()] == [("sms", "13800138000", "certificate_issued")]
    assert r.get_json()[0]["text"].startswith("【职业技能培训券】标题")
    assert client.get(f"{API}/dev/notifications", headers=h).status_code == 403
    app.config["NOTIFY_MODE"] = "live"
    assert client.get(f"{API}/dev/notifications", headers=admin_h).status_code == 404


class FakeWechat:
    """Stands in for api.weixin.qq.com: counts token fetches, answers sends with the queued errcodes."""

    def __init__(self):
        self.tokens = 0
        self.sent: list[dict] = []
        self.errcodes: list[int] = []

    def __call__(self, url, payload, cfg):
        if url.endswith("/cgi-bin/stable_token"):
            self.tokens += 1
            return {"access_token": f"token-{self.tokens}", "expires_in": 7200}
        assert "access_token=token-" in url
        self.sent.append({"token": url.rsplit("-", 1)[1], **payload})
        return {"errcode": self.errcodes.pop(0) if self.errcodes else 0, "errmsg": "ok"}


@pytest.fixture
def live_wechat(app, monkeypatch):
    fake = FakeWechat()
    monkeypatch.setattr(notify_channels, "_post", fake)
    app.config.update(NOTIFY_MODE="live", WECHAT_APPID="wx-test", WECHAT_TEMPLATES={"lesson_reminder": "TPL-1"})
    return fake


def test_live_wechat_token_is_cached_refreshed_and_dropped_when_refused(app, client, clock, trainee, live_wechat):
    clock.set(T0)
    pid, h = trainee()
    client.put(f"{API}/me/notification-preferences", headers=h, json={"wechat_subscribed": {"lesson_reminder": True}})
    openid = db.session.execute(select(WechatAccount.openid).where(WechatAccount.person_id == pid)).scalar()
    for i in range(3):
        _note(pid, kind="lesson_reminder", object_type="lesson", object_id=i + 1, window_key="1d")
    route_new(T0)
    assert send_due(T0, app.config) == {"sent": 3}
    assert live_wechat.tokens == 1 and [s["token"] for s in live_wechat.sent] == ["1", "1", "1"]
    assert live_wechat.sent[0]["touser"] == openid and live_wechat.sent[0]["template_id"] == "TPL-1"
    assert len(live_wechat.sent[0]["data"]["thing1"]["value"]) <= 20
    # Five minutes before its expiry the cached token is replaced.
    later = T0 + timedelta(seconds=7200 - 299)
    _note(pid, kind="lesson_reminder", object_type="lesson", object_id=9, window_key="1d", at=later)
    route_new(later)
    send_due(later, app.config)
    assert live_wechat.tokens == 2 and live_wechat.sent[-1]["token"] == "2"
    # WeChat says the token is invalid: it is dropped, the send retried later with a fresh one.
    live_wechat.errcodes = [40001]
    _note(pid, kind="lesson_reminder", object_type="lesson", object_id=10, window_key="1d", at=later)
    route_new(later)
    assert send_due(later, app.config) == {"pending": 1}
    assert db.session.get(WechatAccessToken, "wx-test", populate_existing=True) is None
    assert send_due(later + timedelta(minutes=1), app.config) == {"sent": 1}
    assert live_wechat.tokens == 3 and live_wechat.sent[-1]["token"] == "3"


def test_live_wechat_without_a_template_is_recorded(app, clock, trainee, live_wechat):
    clock.set(T0)
    pid, h = trainee()
    db.session.add(Notification(person_id=pid, kind="subsidy_status", object_type="claim", object_id=1,
                                window_key="disbursed", title="t", body="b", details={}, created_at=T0))
    from backend.models import WechatSubscription
    db.session.add(WechatSubscription(person_id=pid, template="subsidy_status", subscribed=True, updated_at=T0))
    db.session.commit()
    route_new(T0)
    send_due(T0, app.config)
    d = db.session.execute(select(NotificationDelivery).execution_options(populate_existing=True)).scalar_one()
    assert (d.channel, d.status, d.error, d.attempts) == ("wechat", "pending", "no_template", 1)
    assert live_wechat.sent == []


def test_live_wechat_consent_used_up_falls_back_to_sms(app, client, clock, trainee, staff, live_wechat):
    clock.set(T0)
    pid, h = trainee()
    client.put(f"{API}/me/notification-preferences", headers=h, json={"wechat_subscribed": {"lesson_reminder": True}})
    app.config["NOTIFY_SMS_PER_MIN"] = 0  # only WeChat in the first run
    live_wechat.errcodes = [43101]
    _note(pid, kind="lesson_reminder", object_type="lesson", object_id=1, window_key="1d")
    route_new(T0)
    assert send_due(T0, app.config) == {"failed": 1}
    assert client.get(f"{API}/me/notification-preferences", headers=h).get_json()["wechat_subscribed"][
        "lesson_reminder"] is False
    rows = dict(db.session.execute(select(NotificationDelivery.channel, NotificationDelivery.status)
                                   .execution_options(populate_existing=True)).all())
    assert rows == {"wechat": "failed", "sms": "pending"}
    # Admins see the failed push with the notification's person and kind.
    _, admin_h = staff("admin")
    r = client.get(f"{API}/notifications/failures", headers=admin_h)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "1"
    failure = r.get_json()[0]
    note = db.session.execute(select(Notification)).scalar_one()
    assert {k: failure[k] for k in ("notification_id", "person_id", "kind", "channel", "attempts", "created_at")} == {
        "notification_id": note.id, "person_id": pid, "kind": "lesson_reminder", "channel": "wechat", "attempts": 1,
        "created_at": T0.isoformat()}
    assert isinstance(failure["error"], str) and isinstance(failure["id"], int)
    # The SMS goes out through the SMS adapter (SMS_MODE=stub keeps it in the sms_outbox).
    app.config["NOTIFY_SMS_PER_MIN"] = 100
    assert send_due(T0, app.config) == {"sent": 1}
    from backend.models import SmsMessage
    assert db.session.execute(select(SmsMessage.text).order_by(SmsMessage.id.desc())).scalar().startswith("【职业技能培训券】")
