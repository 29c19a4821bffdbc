"""Kiosk devices: registration and revocation by staff; manifest, events and heartbeat by signed devices."""
from __future__ import annotations

from datetime import date

from apiflask import APIBlueprint, Schema
from apiflask.fields import AwareDateTime, Dict, Integer, List, String
from apiflask.validators import Length, Range
from flask import g, request

from ..clock import now
from ..domain.attendance import SHANGHAI
from ..domain.errors import invalid
from ..domain.identity import region_in_scope
from ..extensions import db
from ..models import Device, Institution
from ..security.authz import actor, requires
from ..services import devices as svc
from .paging import page_list

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


class HeartbeatIn(Schema):
    queue_depth = Integer(required=True, validate=Range(min=0))
    clock = AwareDateTime(required=True)
    version = String(required=True, validate=Length(max=32))


class DeviceEventsIn(Schema):
    # Items are validated one by one in the service: a malformed event gets its own `rejected`
    # receipt instead of failing (and endlessly re-sending) the whole batch. DeviceEventIn documents them.
    events = List(Dict(), required=True, validate=Length(min=1, max=500),
                  metadata={"description": "each: {event_id, person_id, lesson_id, kind, method, "
                                           "face_distance?, captured_at}"})


@bp.post("/devices")
@bp.input(DeviceIn, arg_name="body")
@bp.output(DeviceCreatedOut, status_code=201)
@bp.doc(summary="Register a kiosk at a site; the secret is returned once")
@requires("institution", "supervisor", "admin")
def register_device(body):
    device, secret = svc.register(actor(), body["name"], body["site_id"], now())
    return {"device_id": device.id, "secret": secret, "site_id": device.site_id, "name": device.name,
            "status": device.status}


@bp.post("/devices/<int:device_id>/revoke")
@bp.doc(summary="Revoke a kiosk immediately")
@requires("institution", "supervisor", "admin")
def revoke_device(device_id):
    return {"status": svc.revoke(actor(), device_id, now()).status}


@bp.get("/devices")
@bp.doc(summary="Kiosks in scope with online status and clock drift")
@requires("institution", "supervisor", "admin")
def list_devices():
    a = actor()
    stmt = db.select(Device, Institution.region_code).join(Institution, Institution.id == Device.institution_id)
    if a.role == "institution":
        stmt = stmt.where(Device.institution_id == a.institution_id)
    rows = db.session.execute(stmt.order_by(Device.id)).all()
    t = now()
    items = [svc.device_health(d, t) for d, region in rows if a.role != "supervisor" or region_in_scope(region, a.region_code)]
    if request.args.get("problem") in ("1", "true"):
        items = [i for i in items if i["status"] == "active" and (i["offline"] or i["clock_drift"])]
    return page_list(items)


@bp.get("/device/manifest")
@bp.doc(summary="The day's signed manifest: site, lessons, enrolled people with card keys and face templates",
        security="DeviceSignature")
@requires("device")
def device_manifest():
    raw = request.args.get("date")
    try:
        day = date.fromisoformat(raw) if raw else now().astimezone(SHANGHAI).date()
    except ValueError:
        raise invalid("validation_error", fields={"date": ["YYYY-MM-DD"]}) from None
    return svc.manifest(g.device, day)


@bp.post("/device/heartbeat")
@bp.input(HeartbeatIn, arg_name="body")
@bp.doc(summary="Kiosk liveness, queue depth and clock", security="DeviceSignature")
@requires("device")
def device_heartbeat(body):
    t = now()
    svc.heartbeat(g.device, body["queue_depth"], body["clock"], body["version"], t)
    return {"server_time": t.isoformat()}


@bp.post("/device/events")
@bp.input(DeviceEventsIn, arg_name="body")
@bp.doc(summary="Upload up to 500 kiosk events; per-event receipts accepted / duplicate / rejected",
        security="DeviceSignature")
@requires("device")
def device_events(body):
    from ..services.device_events import ingest
    return {"results": ingest(g.device, body["events"], now())}
