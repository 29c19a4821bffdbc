"""Kiosk devices: registration and revocation by staff; manifest, events and heartbeat by signed devices."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import AwareDateTime, Boolean, Dict, Integer, List, String
from apiflask.validators import Length, Range
from flask import current_app, g, request

from ..clock import now
from ..extensions import limiter
from ..security.authz import actor, requires
from ..services import devices as svc
from .idempotency import redact_on_replay
from .paging import page_list
from .schemas import StatusOut

bp = APIBlueprint("devices", __name__, tag="Kiosk devices")


class DeviceIn(Schema):
    name = String(required=True, validate=Length(min=1, max=128))
    site_id = Integer(required=True)


class DeviceCreatedOut(Schema):
    device_id = Integer()
    secret = String(metadata={"description": "shown once; store it in the kiosk's configuration"})
    site_id = Integer()
    name = String()
    status = String()
    provisioning_qr_svg = String(metadata={
        "description": "shown once, like the secret: an SVG QR of the provisioning code (PXQK1:...: server URL, "
                       "device id, secret) that `python -m kiosk provision` reads from the kiosk's scanner"})


class HeartbeatIn(Schema):
    queue_depth = Integer(required=True, validate=Range(min=0))
    clock = AwareDateTime(required=True)
    version = String(required=True, validate=Length(max=32))


class HeartbeatOut(Schema):
    server_time = AwareDateTime(metadata={"description": "the server's clock, for the kiosk's drift check"})


# Manifest and receipts are documented as plain OpenAPI (not @output) so no field the kiosk needs is filtered out.
_MANIFEST_DOC = {"type": "object", "properties": {
    "date": {"type": "string", "format": "date"},
    "site": {"type": "object", "description": "{id, name, lat, lon (WGS-84), radius_m, card_salt (hex)}"},
    "pin_key": {"type": "string", "description": "the server's X25519 public key (base64): kiosks seal typed "
                                                 "PINs to it (backend/domain/pin_seal.py); only the server checks them"},
    "policy": {"type": "object", "description": "the attendance parameters the kiosk applies "
                                                "(checkin_open_before_min, checkout_close_after_min, credit_grace_min, "
                                                "kiosk_face_max_distance) in force today for the site's region"},
    "lessons": {"type": "array", "items": {"type": "object",
                                           "description": "{lesson_id, plan_id, title, starts_at, ends_at, class_hours, "
                                                          "policy}; `policy`: the same parameters from the lesson's "
                                                          "plan's policy (frozen at its submission), which the kiosk "
                                                          "and the server judge its events by"}},
    "people": {"type": "array", "items": {"type": "object", "properties": {
        "person_id": {"type": "integer"}, "name": {"type": "string"},
        "card_key": {"type": "string", "nullable": True,
                     "description": "hex scrypt(ID number, site.card_salt) (backend/domain/card_keys.py); null "
                                    "until computed (the next manifest has it)"},
        "face_encoding": {"type": "array", "items": {"type": "number"}, "nullable": True,
                          "description": "128 floats, or null without a consented face"},
        "lesson_ids": {"type": "array", "items": {"type": "integer"}},
        "pin_set": {"type": "boolean", "description": "the person set a card PIN (card + PIN is possible)"}}}}}}
_RECEIPTS_DOC = {"type": "object", "properties": {"results": {"type": "array", "items": {
    "type": "object", "properties": {"event_id": {"type": ["string", "null"],
                                                  "description": "null for an item sent without a usable one"},
                                     "status": {"type": "string", "enum": ["accepted", "duplicate", "rejected"]},
                                     "reason": {"type": "string"}}}}}}


class DeviceEventsIn(Schema):
    # Items are validated one by one in the service: a malformed event gets its own `rejected`
    # receipt instead of failing (and endlessly re-sending) the whole batch. DeviceEventIn documents them.
    events = List(Dict(), required=True, validate=Length(min=1, max=500),
                  metadata={"description": "each: {event_id, person_id, lesson_id, kind, method, "
                                           "face_distance?, face_jpeg_base64?, pin_sealed?, "
                                           "liveness?: {passed: bool, challenge: turn_left | turn_right | null}, "
                                           "captured_at}; a face event whose liveness failed or is absent is "
                                           "accepted with the flag liveness_failed / liveness_missing"})


@bp.post("/devices")
@bp.input(DeviceIn, arg_name="body")
@bp.output(DeviceCreatedOut, status_code=201)
@bp.doc(summary="Register a kiosk at a site; the secret is returned once. The kiosk is `pending` (403 "
                "device_not_active on device endpoints) until the region's supervisor activates it")
@requires("institution", "supervisor", "admin")
@redact_on_replay("secret", "provisioning_qr_svg")
def register_device(body):
    from ..domain.device_provisioning import encode
    from ..services.certificates import qr_svg
    device, secret = svc.register(actor(), body["name"], body["site_id"], now())
    code = encode(request.host_url.rstrip("/"), device.id, secret)
    return {"device_id": device.id, "secret": secret, "site_id": device.site_id, "name": device.name,
            "status": device.status, "provisioning_qr_svg": qr_svg(code)}


@bp.post("/devices/<int:device_id>/revoke")
@bp.output(StatusOut)
@bp.doc(summary="Revoke a kiosk immediately")
@requires("institution", "supervisor", "admin")
def revoke_device(device_id):
    return {"status": svc.revoke(actor(), device_id, now()).status}


@bp.post("/devices/<int:device_id>/activate")
@bp.output(StatusOut)
@bp.doc(summary="Activate a pending kiosk (supervisor of the site's region); audited",
        responses={403: "forbidden", 409: "invalid_state"})
@requires("supervisor")
def activate_device(device_id):
    return {"status": svc.activate(actor(), device_id, now()).status}


@bp.get("/devices")
@bp.doc(summary="Kiosks in scope with status (pending / active / revoked), online status and clock drift; "
                "`?status=pending` lists those awaiting activation")
@requires("institution", "supervisor", "admin")
def list_devices():
    t = now()
    items = [svc.device_health(d, t, current_app.config) for d in svc.devices_in_scope(actor())]
    status = request.args.get("status")
    if status in ("pending", "active", "revoked"):
        items = [i for i in items if i["status"] == status]
    if request.args.get("problem") in ("1", "true"):
        items = [i for i in items if i["status"] == "active" and (i["offline"] or i["clock_drift"])]
    return page_list(items)


@bp.get("/device/manifest")
@bp.doc(summary="The day's signed manifest: site, lessons, enrolled people with card keys and face templates",
        description="Only today and tomorrow (Asia/Shanghai); other dates 422 date_out_of_range. No ID numbers "
                    "and no PIN hashes: card_key = scrypt(ID number, site.card_salt), PINs are sealed to pin_key.",
        security="DeviceSignature",
        responses={200: {"description": "the manifest", "content": {"application/json": {"schema": _MANIFEST_DOC}}}})
@requires("device")
def device_manifest():
    return svc.manifest(g.device, svc.manifest_day(request.args.get("date"), now()),
                        float(current_app.config["CARD_KEY_BUDGET_S"]))


class PinCheckIn(Schema):
    event_id = String(required=True, validate=Length(min=8, max=64))
    person_id = Integer(required=True, strict=True)
    pin_sealed = String(required=True, validate=Length(min=1, max=256),
                        metadata={"description": "the typed PIN sealed to the manifest's pin_key, bound to "
                                                 "device:event_id:person_id"})


class PinCheckOut(Schema):
    ok = Boolean()
    reason = String(allow_none=True, metadata={"description": "pin_wrong | pin_locked | pin_not_set | "
                                                              "evidence_invalid"})
    attempts_left = Integer()


@bp.post("/device/pin-check")
@bp.input(PinCheckIn, arg_name="body")
@bp.output(PinCheckOut)
@bp.doc(summary="Check a PIN typed at the kiosk (sealed); wrong ones count towards the lock",
        description="An on-line kiosk asks before recording card + PIN so the trainee can retry; the event "
                    "itself carries the same sealed PIN and is checked again on upload (offline kiosks rely on "
                    "that alone). 5 wrong PINs in a row lock the PIN until the trainee sets a new one.",
        security="DeviceSignature")
@limiter.limit("60 per minute")
@requires("device")
def device_pin_check(body):
    from ..domain.pin_seal import binding
    from ..services.pins import check_sealed
    # A 200 either way, so the unit of work keeps the failure count (the lock) of a wrong PIN.
    ok, reason, left = check_sealed(body["person_id"], body["pin_sealed"],
                                    binding(g.device.id, body["event_id"], body["person_id"]))
    return {"ok": ok, "reason": reason, "attempts_left": left}


@bp.post("/device/heartbeat")
@bp.input(HeartbeatIn, arg_name="body")
@bp.output(HeartbeatOut)
@bp.doc(summary="Kiosk liveness, queue depth and clock", security="DeviceSignature")
@requires("device")
def device_heartbeat(body):
    t = now()
    svc.heartbeat(g.device, body["queue_depth"], body["clock"], body["version"], t,
                  current_app.config["DEVICE_OFFLINE_AFTER_S"])
    return {"server_time": t}


@bp.post("/device/events")
@bp.input(DeviceEventsIn, arg_name="body")
@bp.doc(summary="Upload up to 500 kiosk events; per-event receipts accepted / duplicate / rejected",
        security="DeviceSignature",
        responses={200: {"description": "one receipt per event, in the order sent",
                         "content": {"application/json": {"schema": _RECEIPTS_DOC}}}})
@requires("device")
def device_events(body):
    from ..services.device_events import ingest
    return {"results": ingest(g.device, body["events"], now(), current_app.config)}
