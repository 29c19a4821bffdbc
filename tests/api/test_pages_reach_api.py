"""Every state-changing operation of the served OpenAPI is reachable from a page (issue #15).

PAGES maps each POST/PUT/PATCH/DELETE operation of `/api/v1/openapi.json` to the page file that calls it
and literal fragments that must all appear in that file: the call with the path as the JS writes it,
and for a dynamic path the verb literal that fills it (a `data-action`, an `act(…, "verb")`, a ternary).
MACHINE_ONLY maps the few operations no person drives to the reason and the program file that calls them.
The test fails on an operation in neither list, on a listed operation the document no longer has, and
on a fragment missing from its file. A new endpoint therefore needs a page (or a reason) in the same change.
"""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATIC = "backend/web/static"
DASH, CONSOLE, COMMON = f"{STATIC}/dashboard", f"{STATIC}/console", f"{STATIC}/common"
M = "miniprogram_stub/pages"
# Where the pages live: the dashboard (/dashboard/), the console (/console/), the shared helpers and the
# trainee's phone client (/m/). A machine-only caller lives in the kiosk program.
PAGE_ROOTS = (f"{DASH}/", f"{CONSOLE}/", f"{COMMON}/", "miniprogram_stub/")
MACHINE_ROOTS = ("kiosk/",)
STATE_CHANGING = ("post", "put", "patch", "delete")
# How a call with each method is spelled: the pages' api.post/upload/put/patch/del, a raw fetch, and the
# kiosk's HTTP client passed to its retry wrapper (`self._call(self.client.post, ...)`).
CALLS = {"POST": ("post(", "upload(", 'method: "POST"', "client.post,"), "PUT": ("put(",), "PATCH": ("patch(",),
         "DELETE": ("del(",)}

PAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    # ---- every page: sign-in, the session, the password -------------------------------------------------
    "POST /auth/login": (f"{COMMON}/shell.js", ('api.post("/auth/login"',)),
    "POST /auth/refresh": (f"{COMMON}/api.js", ("fetch(`${base}/auth/refresh`", 'method: "POST"')),
    "POST /auth/logout": (f"{COMMON}/api.js", ("fetch(`${base}/auth/logout`", 'method: "POST"')),
    "POST /auth/password": (f"{COMMON}/password.js", ('api.post("/auth/password"',)),
    # ---- dashboard (/dashboard/): the bureau -------------------------------------------------------------
    "POST /institutions": (f"{DASH}/bureau.js", ('api.post("/institutions"',)),
    "POST /users": (f"{DASH}/bureau.js", ('api.post("/users"',)),
    "POST /policies": (f"{DASH}/policies.js", ('api.post("/policies"',)),
    "POST /certificates/{number}/revoke": (
        f"{DASH}/certificates.js", ("api.post(`/certificates/${encodeURIComponent(number)}/revoke`",)),
    "POST /persons/{person_id}/unbind": (
        f"{DASH}/lesson.js", ("api.post(`/persons/${t.person_id}/unbind`", 'class="small danger unbind">解除绑定')),
    "POST /plans/{plan_id}/approve": (f"{DASH}/review.js", ("api.post(`/plans/${id}/approve`",)),
    "POST /plans/{plan_id}/reject": (f"{DASH}/review.js", ("api.post(`/plans/${id}/reject`",)),
    "POST /plans/{plan_id}/change-requests/{request_id}/approve": (
        f"{DASH}/review.js", ('api.post(`/plans/${card.dataset.plan}/change-requests/${card.dataset.change}/${approve ? "approve" : "reject"}`',
                              'class="primary approve-change">批准变更')),
    "POST /plans/{plan_id}/change-requests/{request_id}/reject": (
        f"{DASH}/review.js", ('api.post(`/plans/${card.dataset.plan}/change-requests/${card.dataset.change}/${approve ? "approve" : "reject"}`',
                              'class="danger reject-change">驳回变更')),
    "POST /plans/{plan_id}/completion/approve": (f"{DASH}/review.js", ("api.post(`/plans/${id}/completion/approve`",)),
    "POST /plans/{plan_id}/completion/reject": (
        f"{DASH}/review.js", ("api.post(`/plans/${card.dataset.plan}/completion/reject`",)),
    "POST /makeups/{makeup_id}/approve": (
        f"{DASH}/review.js", ('api.post(`/makeups/${card.dataset.makeup}/${approve ? "approve" : "reject"}`',
                              'class="primary approve">通过（计入课时）')),
    "POST /makeups/{makeup_id}/reject": (
        f"{DASH}/review.js", ('api.post(`/makeups/${card.dataset.makeup}/${approve ? "approve" : "reject"}`',
                              'class="danger reject">驳回')),
    "POST /subsidy-claims/{claim_id}/approve": (
        f"{DASH}/review.js", ('api.post(`/subsidy-claims/${card.dataset.claim}/${approve ? "approve" : "disburse"}`',
                              'class="primary approve">审核通过（开始公示）')),
    "POST /subsidy-claims/{claim_id}/disburse": (
        f"{DASH}/review.js", ('api.post(`/subsidy-claims/${card.dataset.claim}/${approve ? "approve" : "disburse"}`',
                              'class="primary disburse"')),
    "POST /subsidy-claims/{claim_id}/reject": (f"{DASH}/review.js", ("api.post(`/subsidy-claims/${card.dataset.claim}/reject`",)),
    "POST /subsidy-claims/{claim_id}/objections": (
        f"{DASH}/review.js", ("api.post(`/subsidy-claims/${c.id}/objections`", 'form class="record-objection"')),
    "POST /subsidy-claims/{claim_id}/objections/{objection_id}/resolve": (
        f"{DASH}/review.js", ("api.post(`/subsidy-claims/${c.id}/objections/${li.dataset.objection}/resolve`",
                              'data-decision="dismissed"', 'data-decision="upheld"')),
    "POST /devices/{device_id}/activate": (
        f"{DASH}/review.js", ('api.post(`/devices/${btn.closest("tr").dataset.device}/activate`',)),
    "POST /voucher-batches": (f"{DASH}/vouchers.js", ('api.post("/voucher-batches"',)),
    "POST /voucher-batches/{batch_id}/publish": (
        f"{DASH}/vouchers.js", ('api.post(`/voucher-batches/${btn.closest("tr").dataset.batch}/${verb}`',
                                'act("button.publish", "publish"')),
    "POST /voucher-batches/{batch_id}/close": (
        f"{DASH}/vouchers.js", ('api.post(`/voucher-batches/${btn.closest("tr").dataset.batch}/${verb}`',
                                'act("button.close-batch", "close"')),
    "POST /voucher-batches/{batch_id}/code-enrollment": (
        f"{DASH}/vouchers.js", ('api.post(`/voucher-batches/${btn.closest("tr").dataset.batch}/code-enrollment`',
                                "toggle-code-enrollment")),
    "POST /vouchers/{code}/void": (f"{DASH}/vouchers.js", ('api.post(`/vouchers/${btn.closest("tr").dataset.code}/void`',)),
    # Both pages check a voucher by code: the bureau's voucher page and the institution's desk.
    "POST /vouchers/verify": (f"{DASH}/vouchers.js", ('api.post("/vouchers/verify"',)),
    # ---- console (/console/): the institution ------------------------------------------------------------
    "POST /plans": (f"{CONSOLE}/plans.js", ('api.post("/plans"',)),
    "PATCH /plans/{plan_id}": (f"{CONSOLE}/plan.js", ("api.patch(`/plans/${plan.id}`",)),
    "POST /plans/{plan_id}/change-requests": (
        f"{CONSOLE}/plan.js", ("api.post(`/plans/${plan.id}/change-requests`", "变更原因（变更职业、类型或方式时必填")),
    "POST /plans/{plan_id}/submit": (
        f"{CONSOLE}/plan.js", ("api.post(`/plans/${id}/${btn.dataset.action}`", 'data-action="submit"')),
    "POST /plans/{plan_id}/withdraw": (
        f"{CONSOLE}/plan.js", ("api.post(`/plans/${id}/${btn.dataset.action}`", 'data-action="withdraw"')),
    "POST /plans/{plan_id}/lessons": (f"{CONSOLE}/plan.js", ("api.post(`/plans/${plan.id}/lessons`",)),
    "POST /plans/{plan_id}/lessons/import": (f"{CONSOLE}/plan.js", ("api.upload(`/plans/${plan.id}/lessons/import`",)),
    "PATCH /lessons/{lesson_id}": (f"{CONSOLE}/plan.js", ("api.patch(`/lessons/${lesson.id}`",)),
    "DELETE /lessons/{lesson_id}": (f"{CONSOLE}/plan.js", ("api.del(`/lessons/${l.id}`",)),
    "POST /plans/{plan_id}/roster": (f"{CONSOLE}/plan.js", ("api.upload(`/plans/${plan.id}/roster`",)),
    "DELETE /plans/{plan_id}/enrollments/{enrollment_id}": (
        f"{CONSOLE}/plan.js", ("api.del(`/plans/${plan.id}/enrollments/${e.id}`",)),
    "PATCH /enrollments/{enrollment_id}": (f"{CONSOLE}/plan.js", ("api.patch(`/enrollments/${e.id}`",)),
    "POST /enrollments/{enrollment_id}/contract": (
        f"{CONSOLE}/plan.js", ("api.upload(`/enrollments/${input.dataset.contract}/contract`",)),
    "POST /plans/{plan_id}/contracts": (f"{CONSOLE}/plan.js", ("api.upload(`/plans/${plan.id}/contracts`",)),
    "PUT /persons/{person_id}/face": (f"{CONSOLE}/plan.js", ("api.put(`/persons/${e.person_id}/face`",)),
    "POST /plans/{plan_id}/online-records": (f"{CONSOLE}/plan.js", ("api.upload(`/plans/${plan.id}/online-records`",)),
    "POST /plans/{plan_id}/results": (f"{CONSOLE}/plan.js", ("api.upload(`/plans/${plan.id}/results`",)),
    "POST /plans/{plan_id}/completion": (f"{CONSOLE}/plan.js", ("api.post(`/plans/${plan.id}/completion`",)),
    "POST /plans/{plan_id}/enrollments": (
        f"{CONSOLE}/verify.js", ('api.post(`/plans/${$(out, "#plan").value}/enrollments`',)),
    "POST /lessons/{lesson_id}/makeups": (f"{CONSOLE}/attendance.js", ("api.upload(`/lessons/${id}/makeups`",)),
    "POST /sites": (f"{CONSOLE}/sites.js", ('api.post("/sites"',)),
    "PATCH /sites/{site_id}": (f"{CONSOLE}/sites.js", ("api.patch(`/sites/${site.id}`",)),
    "POST /devices": (f"{CONSOLE}/kiosks.js", ('api.post("/devices"',)),
    # The institution withdraws its own kiosk on the console; the bureau stops one on the dashboard's review page.
    "POST /devices/{device_id}/revoke": (
        f"{CONSOLE}/kiosks.js", ('api.post(`/devices/${btn.closest("tr").dataset.device}/revoke`',)),
    # ---- the trainee's phone client (/m/) ----------------------------------------------------------------
    "POST /auth/wechat": (f"{M}/login.js", ('app.api.post("/auth/wechat"',)),
    "POST /me/identity": (f"{M}/bind.js", ('app.api.post("/me/identity"',)),
    "PUT /me/face": (f"{M}/face.js", ('app.api.put("/me/face"',)),
    "DELETE /me/face": (f"{M}/face.js", ('app.api.del("/me/face"',)),
    "PUT /me/pin": (f"{M}/pin.js", ('app.api.put("/me/pin"',)),
    "PUT /me/notification-preferences": (f"{M}/notify-settings.js", ('app.api.put("/me/notification-preferences"',)),
    "POST /me/notifications/{notification_id}/read": (
        f"{M}/inbox.js", ("app.api.post(`/me/notifications/${el.dataset.id}/read`",)),
    "POST /me/evaluations": (f"{M}/rating.js", ('app.api.post("/me/evaluations"',)),
    "POST /me/vouchers/{code}/return": (
        f"{M}/my-vouchers.js", ("app.api.post(`/me/vouchers/${encodeURIComponent(article.dataset.code)}/return`",)),
    "POST /voucher-batches/{batch_id}/claims": (
        f"{M}/vouchers.js", ("app.api.post(`/voucher-batches/${article.dataset.batch}/claims`",)),
    "POST /attendance": (f"{M}/lessons.js", ('app.api.post("/attendance"',)),
}

# Operations no page calls, with the reason and the program that does (fragments as above).
MACHINE_ONLY: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "POST /device/events": ("the kiosk daemon uploads its signed outbox of check-ins; no person calls it",
                            "kiosk/sync.py", ('self._call(self.client.post, "/device/events"',)),
    "POST /device/heartbeat": ("the kiosk daemon's signed heartbeat (clock skew, queue depth)",
                               "kiosk/sync.py", ('self._call(self.client.post, "/device/heartbeat"',)),
    "POST /device/pin-check": ("the kiosk asks for the verdict on a sealed card PIN while on line",
                               "kiosk/sync.py", ('self._call(self.client.post, "/device/pin-check"',)),
}


def _state_changing(client) -> set[str]:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    paths = r.get_json()["paths"]
    prefix = "/api/v1"
    return {f"{method.upper()} {path.removeprefix(prefix)}" for path, item in paths.items()
            for method in item if method in STATE_CHANGING and path.startswith(prefix)}


def _missing(rel: str, fragments: tuple[str, ...]) -> list[str]:
    """The fragments (literals or regexes) not found in the file, or the file itself when it is gone."""
    path = REPO / rel
    if not path.is_file():
        return [f"{rel}: file not found"]
    text = path.read_text(encoding="utf-8")
    return [f"{rel}: {frag!r} not found" for frag in fragments
            if not (frag.search(text) if isinstance(frag, re.Pattern) else frag in text)]


def _spelled(op: str, fragments: tuple[str, ...]) -> list[str]:
    """The mapping names the right call: each literal path segment and the method's call are in the fragments."""
    method, path = op.split(" ", 1)
    joined = " ".join(f.pattern if isinstance(f, re.Pattern) else f for f in fragments)
    out = [f"{op}: path segment {seg!r} is in none of its fragments"
           for seg in path.strip("/").split("/") if not seg.startswith("{") and seg not in joined]
    if method in CALLS and not any(call in joined for call in CALLS[method]):
        out.append(f"{op}: no fragment shows a {method} call ({' / '.join(CALLS[method])})")
    return out


def test_the_lists_do_not_overlap():
    assert not set(PAGES) & set(MACHINE_ONLY)


def test_every_state_changing_operation_is_listed(client):
    served = _state_changing(client)
    assert len(served) >= 60, sorted(served)  # the document really was read
    unlisted = sorted(served - set(PAGES) - set(MACHINE_ONLY))
    assert not unlisted, f"no page calls these operations (add a page, or a reason in MACHINE_ONLY): {unlisted}"
    gone = sorted((set(PAGES) | set(MACHINE_ONLY)) - served)
    assert not gone, f"listed but no longer in the OpenAPI: {gone}"


def test_each_page_calls_its_operation():
    problems = []
    for op, (rel, fragments) in sorted(PAGES.items()):
        assert fragments, op
        if not rel.startswith(PAGE_ROOTS):
            problems.append(f"{op}: {rel} is not a page (expected under {', '.join(PAGE_ROOTS)})")
        problems += _missing(rel, fragments) + _spelled(op, fragments)
    assert not problems, "\n".join(problems)


def test_each_machine_only_operation_has_a_reason_and_its_caller():
    problems = []
    for op, (reason, rel, fragments) in sorted(MACHINE_ONLY.items()):
        if len(reason.strip()) < 20:
            problems.append(f"{op}: give the reason it is machine-only")
        if not rel.startswith(MACHINE_ROOTS):
            problems.append(f"{op}: {rel} is not a machine client (expected under {', '.join(MACHINE_ROOTS)})")
        problems += _missing(rel, fragments) + _spelled(op, fragments)
    assert not problems, "\n".join(problems)


def test_a_missing_fragment_or_operation_is_reported(client):
    """The checks bite: a renamed call, a wrong segment and an unknown operation are all caught."""
    rel, fragments = PAGES["POST /subsidy-claims/{claim_id}/objections"]
    assert _missing(rel, ("api.post(`/subsidy-claims/${c.id}/objection`)",))  # singular: not in the file
    assert _missing("backend/web/static/dashboard/nowhere.js", fragments) == [
        "backend/web/static/dashboard/nowhere.js: file not found"]
    assert _spelled("POST /plans/{plan_id}/submit", ("api.post(`/plans/${id}/${btn.dataset.action}`",))
    assert _spelled("DELETE /lessons/{lesson_id}", ("api.patch(`/lessons/${lesson.id}`",))
    assert "POST /plans/{plan_id}/archive" not in _state_changing(client)
