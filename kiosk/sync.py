"""Upstream sync: event batches out (with per-event receipts), the day's manifest in, heartbeats.

`Syncer` does single operations; `SyncLoop` schedules them with exponential backoff and jitter
and logs like Home Assistant's serial sensor: the first failure loudly, later ones quietly.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from backend.domain.attendance import lesson_day
from kiosk.http_client import DeviceClient, HttpError, NetworkError
from kiosk.manifest_cache import ManifestCache
from kiosk.outbox import Outbox

log = logging.getLogger(__name__)

MAX_BATCH = 500  # API.md: POST /device/events takes at most 500 events


class Syncer:
    """One-shot sync operations against the server."""

    def __init__(self, client: DeviceClient, outbox: Outbox, cache: ManifestCache, *,
                 clock: Callable[[], datetime], version: str, batch_size: int = MAX_BATCH,
                 on_manifest: Callable[[date, dict], None] | None = None,
                 on_rejected: Callable[[list[tuple[dict, dict]]], None] | None = None):
        self.client = client
        self.outbox = outbox
        self.cache = cache
        self.clock = clock
        self.version = version
        self.batch_size = min(batch_size, MAX_BATCH)
        self.on_manifest = on_manifest
        # (event, receipt) pairs the server refused after the kiosk had shown them as recorded.
        self.on_rejected = on_rejected
        self.online = False
        self.refused: str | None = None  # why the server last refused this device, until a request succeeds
        self.last_success_at: datetime | None = None

    def _ok(self) -> None:
        self.online = True
        self.last_success_at = self.clock()

    def _call(self, fn, *args, **kw):
        try:
            answer = fn(*args, **kw)
        except NetworkError:
            self.online = False
            raise
        except HttpError as exc:
            if exc.status in (401, 403) and exc.code in ("unauthorized", "device_not_active"):
                # Not a network blip: the server refuses this device (pending, revoked, wrong secret).
                self.online = False
                self.refused = exc.code if exc.code == "device_not_active" else \
                    f"unauthorized:{exc.details.get('reason', '')}"
            raise
        self.refused = None
        self._ok()
        return answer

    def push_batch(self) -> dict[str, int] | None:
        """Upload one batch of ready events; None when the queue is empty, else counts per status."""
        payloads = self.outbox.take_payloads(self.batch_size)
        if not payloads:
            return None
        ids = [event_id for event_id, _ in payloads]
        try:
            receipts = self._upload(payloads)
            counts = self.outbox.mark(receipts)
        finally:
            # Events without a receipt (or after a failure) are retried; the server dedupes by event_id.
            self.outbox.release(ids)
        rejected = [r for r in receipts if r.get("status") == "rejected"]
        if rejected:
            by_id = dict(payloads)
            pairs = [(json.loads(by_id[str(r.get("event_id"))]), r) for r in rejected
                     if str(r.get("event_id")) in by_id]
            for event, receipt in pairs:
                log.warning("the server rejected event %s (person %s, %s): %s", event["event_id"],
                            event.get("person_id"), event.get("kind"), receipt.get("reason"))
            if pairs and self.on_rejected is not None:
                self.on_rejected(pairs)
        return counts

    def _upload(self, payloads: list[tuple[str, str]]) -> list[dict]:
        """POST events (their stored JSON texts) and return receipts; a 422 for the whole batch is
        split to find the culprit."""
        body = b'{"events":[' + ",".join(text for _, text in payloads).encode() + b"]}"
        try:
            answer = self._call(self.client.post, "/device/events", body)
        except HttpError as exc:
            if exc.status != 422:
                raise  # revoked, unknown endpoint...: the device's problem, not the events'
            if len(payloads) > 1:
                mid = len(payloads) // 2
                return self._upload(payloads[:mid]) + self._upload(payloads[mid:])
            # The server refuses this one event as a request, so it would block the queue forever.
            log.error("event %s refused by the server (%s); kept locally as rejected",
                      payloads[0][0], exc.code)
            return [{"event_id": payloads[0][0], "status": "rejected", "reason": f"http_422_{exc.code}"}]
        receipts = answer.get("results") if isinstance(answer, dict) else None
        return [r for r in receipts if isinstance(r, dict)] if isinstance(receipts, list) else []

    def push_all(self) -> dict[str, int]:
        """Upload until the queue is empty; returns total counts per status."""
        total: dict[str, int] = {}
        while True:
            counts = self.push_batch()
            if counts is None:
                return total
            for status, n in counts.items():
                total[status] = total.get(status, 0) + n
            if not counts:
                return total  # the server answered without receipts: try again next round

    def pull_manifest(self, day: date | None = None) -> dict:
        """Fetch the manifest for `day` (default today in Shanghai) and cache it encrypted."""
        day = day or lesson_day(self.clock())
        manifest = self._call(self.client.get, "/device/manifest", {"date": day.isoformat()})
        if not isinstance(manifest, dict):
            raise NetworkError("manifest is not a JSON object")
        self.cache.store(day, manifest)
        if self.on_manifest is not None:
            self.on_manifest(day, manifest)
        return manifest

    def heartbeat(self) -> dict:
        """Report queue depth, device clock and version; returns the server's answer."""
        now = self.clock()
        answer = self._call(self.client.post, "/device/heartbeat", {
            "queue_depth": self.outbox.depth(),
            "clock": now.astimezone(UTC).isoformat(timespec="seconds"),
            "version": self.version,
        })
        server_time = answer.get("server_time") if isinstance(answer, dict) else None
        if server_time:
            try:
                skew = (datetime.fromisoformat(server_time) - now).total_seconds()
            except (TypeError, ValueError):
                skew = 0.0
            if abs(skew) > 60:
                # Event times come from this clock; the server judges windows by them.
                log.warning("device clock differs from the server by %.0f s", skew)
        return answer

    def check_pin(self, event_id: str, person_id, pin_sealed: str, timeout: float = 5.0) -> dict:
        """POST /device/pin-check: the server's verdict on a sealed PIN; NetworkError when offline."""
        try:
            return self._call(self.client.post, "/device/pin-check",
                              {"event_id": event_id, "person_id": person_id, "pin_sealed": pin_sealed}, timeout=timeout)
        except HttpError as exc:
            log.info("PIN check refused: %s", exc.code)
            raise NetworkError(f"pin check refused: {exc.code}") from None

    def verify_qr(self, token: str, timeout: float = 5.0) -> dict:
        """POST /vouchers/verify for a scanned token; NetworkError (a ConnectionError) when offline."""
        try:
            return self._call(self.client.post, "/vouchers/verify", {"token": token}, timeout=timeout)
        except HttpError as exc:
            log.info("voucher verify refused: %s", exc.code)
            return {"valid": False, "reason": "token_invalid"}


class Backoff:
    """Exponential delays with jitter: base * 2**n, capped, then scaled by a random 0.5-1.0."""

    def __init__(self, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None):
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Register one more failure and return how long to wait before retrying."""
        ceiling = min(self.cap, self.base * 2 ** min(self.failures, 30))
        self.failures += 1
        # "Equal jitter": spreads a fleet of kiosks coming back after an outage, never waits < half.
        return ceiling * (0.5 + self._rng.random() / 2)

    def reset(self) -> None:
        """Forget past failures after a success."""
        self.failures = 0


class FailureLog:
    """First failure of a run loudly, the rest quietly, and a note when it recovers."""

    def __init__(self, what: str, logger: logging.Logger = log):
        self.what = what
        self.failures = 0
        self._log = logger

    def failed(self, exc: BaseException) -> None:
        """Record one failure."""
        self.failures += 1
        if self.failures == 1:
            self._log.warning("%s failed: %s (will keep retrying; further failures logged at debug)",
                              self.what, exc)
        else:
            self._log.debug("%s still failing (%d): %s", self.what, self.failures, exc)

    def succeeded(self) -> None:
        """Record a success."""
        if self.failures:
            self._log.warning("%s recovered after %d failures", self.what, self.failures)
        self.failures = 0


class SyncLoop:
    """Runs the Syncer on a schedule in its own thread until `stop` is set."""

    def __init__(self, syncer: Syncer, *, interval_s: float = 5.0, manifest_refresh_s: float = 600.0,
                 heartbeat_s: float = 60.0, backoff: Backoff | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.syncer = syncer
        self.interval_s = interval_s
        self.manifest_refresh_s = manifest_refresh_s
        self.heartbeat_s = heartbeat_s
        self.backoff = backoff or Backoff()
        self.failures = FailureLog("sync")
        self._monotonic = monotonic
        self._manifest_at: float | None = None
        self._manifest_day: date | None = None
        self._heartbeat_at: float | None = None

    def _due(self, last: float | None, every: float) -> bool:
        return last is None or self._monotonic() - last >= every

    def run_once(self) -> bool:
        """One round: manifest if due (or the day changed), upload, heartbeat if due; True if all worked."""
        try:
            today = lesson_day(self.syncer.clock())
            if today != self._manifest_day or self._due(self._manifest_at, self.manifest_refresh_s):
                self.syncer.pull_manifest(today)
                self._manifest_day, self._manifest_at = today, self._monotonic()
            self.syncer.push_all()
            if self._due(self._heartbeat_at, self.heartbeat_s):
                self.syncer.heartbeat()
                self._heartbeat_at = self._monotonic()
        except (NetworkError, HttpError) as exc:
            self.failures.failed(exc)
            return False
        self.failures.succeeded()
        self.backoff.reset()
        return True

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set, backing off while the server is unreachable."""
        while not stop.is_set():
            try:
                ok = self.run_once()
            except Exception:  # noqa: BLE001 - a bug in one round must not end syncing for good
                log.exception("sync round crashed")
                ok = False
            stop.wait(self.interval_s if ok else self.backoff.next_delay())
