"""The product's periodic sweeps. Add one here: a body `(now, actor)` calling its service, and a schedule.

Schedules are Huey crontabs read in UTC; `shanghai_daily(h, m)` converts a Shanghai wall-clock time.
Every body is idempotent (conditional updates over rows that are due), so a run that is lost, repeated
or killed half-way is harmless: the next one finishes the work.
"""
from __future__ import annotations

from flask import current_app
from huey import crontab

from .registry import shanghai_daily, sweep


@sweep("vouchers-expire", crontab(minute="*/10"))
def expire_vouchers(now, actor):
    """Mark claimed vouchers past their expiry as expired (reads already show it; this is for statistics)."""
    from ..services.voucher_use import expire_due
    return {"expired": len(expire_due(now, actor))}


@sweep("retention", shanghai_daily(3, 30))
def apply_retention(now, actor):
    """The RETENTION_YEARS purge: face templates, then anonymisation, then old operational rows."""
    from ..services import retention
    return retention.apply(now, int(current_app.config["RETENTION_YEARS"]), actor)


@sweep("housekeeping", crontab(minute="17"))
def purge_expired(now, actor):
    """Drop idempotency records and device nonces past their replay windows (hourly)."""
    from ..services.housekeeping import purge_expired as purge
    return purge(now)


@sweep("evidence-recheck", crontab(minute="*"), lock=False)
def recheck_evidence(now, actor):
    """Re-verify due kiosk face crops (a sample, and every crop of a flagged person); leased rows, so
    several workers split them and a killed worker's rows are taken over when their lease runs out."""
    from ..services.evidence import recheck_due
    return recheck_due(now, float(current_app.config["FACE_MATCH_THRESHOLD"]))


@sweep("evidence-purge", crontab(minute="41"))
def purge_evidence(now, actor):
    """Delete face crops of plans whose claim is settled after publicity, and any past the retention period."""
    from ..services import evidence, retention
    cutoff = retention.cutoff(now, int(current_app.config["RETENTION_YEARS"]))
    return {"purged": evidence.purge_settled(now, retention_cutoff=cutoff)}


@sweep("card-keys", crontab(minute="*/5"))
def fill_card_keys(now, actor):
    """Compute the card keys (deliberately slow scrypt) of everyone enrolled in today's and tomorrow's
    offline lessons at their site, so kiosk manifests never wait for them."""
    from ..services.card_keys import fill_upcoming
    return {"computed": fill_upcoming(now)}


@sweep("notify-scan", crontab(minute="*"))
def queue_notifications(now, actor):
    """Find the reminders due now (voucher expiry, lessons, missed check-ins, absence risk, decisions,
    certificates, subsidy states) and queue each once; then give the new ones their push channel."""
    from ..services.notify_delivery import route_new
    from ..services.notify_scan import queue_due
    counts = queue_due(now, current_app.config)
    from ..unit_of_work import commit_side_effect
    commit_side_effect("job_batch")  # the queued rows are visible to the routing batches (and to other workers) now
    routed = route_new(now)
    if routed:
        # Push what was just routed now rather than at the next minute's tick: a send that ran beside this
        # scan (another thread or worker) found nothing yet.
        from .enqueue import enqueue_after_commit
        enqueue_after_commit(send_notifications)
    return {"queued": counts, "routed": routed}


@sweep("notify-send", crontab(minute="*"), lock=False)
def send_notifications(now, actor):
    """Push due deliveries (WeChat, SMS) with retries and backoff; leased rows, so several workers split them."""
    from ..services.notify_delivery import send_due
    return send_due(now, current_app.config)
