"""Wires config, storage, devices, sync and the controller into a running kiosk."""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from backend.domain.attendance import SHANGHAI, lesson_day
from backend.domain.identity import mask_name
from kiosk import __version__
from kiosk.config import KioskConfig
from kiosk.core.controller import CARD, QR, Controller, ControllerSettings, Scan
from kiosk.core.liveness import LivenessChecker
from kiosk.core.messages import text
from kiosk.core.pin import SealedPinVerifier
from kiosk.core.verify import default_face_verifier
from kiosk.devices import DeviceError, open_device
from kiosk.devices.screen_pad import screen_pin_hub
from kiosk.display import Displays, StatusBoard, TerminalDisplay
from kiosk.http_client import DeviceClient, HttpError, NetworkError
from kiosk.inputs import InputPump, read_scan
from kiosk.manifest_cache import ManifestCache, ManifestProvider
from kiosk.outbox import Outbox
from kiosk.screen import PreviewCamera, Screen
from kiosk.status_page import StatusServer
from kiosk.sync import Backoff, Syncer, SyncLoop

log = logging.getLogger(__name__)

KEEP_SETTLED = timedelta(days=30)


def utc_now() -> datetime:
    """The real clock (tests inject their own)."""
    return datetime.now(UTC)


def open_devices(config: KioskConfig) -> dict[str, object]:
    """Open every configured device by role; roles with an empty URL are left out."""
    urls = {"qr": config.devices.qr, "card": config.devices.card, "camera": config.devices.camera,
            "pinpad": config.devices.pinpad}
    return {role: open_device(url, role) for role, url in urls.items() if url}


class Kiosk:
    """All the parts of one kiosk; `run_forever` for the daemon, `run_once` for --once."""

    def __init__(self, config: KioskConfig, *, clock: Callable[[], datetime] = utc_now,
                 devices: dict[str, object] | None = None, face_verifier=default_face_verifier,
                 pin_verifier=None, stream=None):
        self.config = config
        self.clock = clock
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(config.db_path, clock=clock)
        if self.outbox.recovered:
            log.warning("%d events were in flight at the last stop; they will be sent again", self.outbox.recovered)
        self.cache = ManifestCache(config.db_path, config.device_id, config.device_secret, clock=clock)
        self.manifest = ManifestProvider(self.cache, clock, lesson_day)
        self.syncer = None
        if config.server_url:
            client = DeviceClient(config.server_url, config.device_id, config.device_secret,
                                  timeout=config.http_timeout_s, now=lambda: clock().timestamp())
            self.syncer = Syncer(client, self.outbox, self.cache, clock=clock, version=__version__,
                                 batch_size=config.batch_size, on_manifest=self._manifest_arrived,
                                 on_rejected=self._rejected_later)
        self.devices = open_devices(config) if devices is None else dict(devices)
        self.board = StatusBoard()
        if self.devices.get("camera") is not None and config.status_port and config.screen:
            # The screen shows the person what the camera sees while their face is checked.
            self.devices["camera"] = PreviewCamera(self.devices["camera"], self.board)
        settings = ControllerSettings(
            face_threshold=config.face_threshold, face_attempts=config.face_attempts,
            pin_attempts=config.pin_attempts, pin_fallback=config.pin_fallback,
            duplicate_window_s=config.duplicate_window_s, result_display_s=config.result_display_s,
            liveness_attempts=config.liveness_attempts, confirm_check_out_s=config.confirm_check_out_s)
        if pin_verifier is None:
            # PINs are sealed to the server's key and checked there (on line at once, else on upload).
            pin_verifier = SealedPinVerifier(self.manifest, config.device_id,
                                             check=self.syncer.check_pin if self.syncer else None,
                                             is_online=lambda: bool(self.syncer and self.syncer.online))
        self.controller = Controller(
            clock=clock, outbox=self.outbox, manifest=self.manifest,
            camera=self.devices.get("camera"), pinpad=self.devices.get("pinpad"),
            face_verifier=face_verifier, pin_verifier=pin_verifier,
            qr_verifier=self.syncer.verify_qr if self.syncer else None,
            is_online=lambda: bool(self.syncer and self.syncer.online),
            display=Displays(TerminalDisplay(stream), self.board), settings=settings,
            liveness=LivenessChecker(frames=config.liveness_frames) if config.liveness else None)
        self.controller.machine.add_listener(self.board.on_state)
        self.outbox.prune(clock() - KEEP_SETTLED)

    @property
    def inputs(self) -> dict[str, object]:
        """The scan sources (card reader and QR scanner) among the devices."""
        return {role: d for role, d in self.devices.items() if role in (CARD, QR)}

    def _manifest_arrived(self, day, data: dict) -> None:
        self.manifest.update(day, data)
        # Yesterday's roster and face templates have no use here any more.
        self.cache.prune(day)

    def _rejected_later(self, pairs: list[tuple[dict, dict]]) -> None:
        # The screen said "recorded" for these; the server's verdict is shown too, until the day ends.
        manifest = self.manifest()
        late = list(self.board.extra.get("late_rejections", []))
        for event, receipt in pairs:
            person = manifest.person(event.get("person_id")) if manifest else None
            try:
                at = datetime.fromisoformat(event["captured_at"]).astimezone(SHANGHAI).strftime("%H:%M")
            except (KeyError, TypeError, ValueError):
                at = ""
            late.insert(0, {"time": at, "name": mask_name(person.name) if person else "",
                            "kind": event.get("kind"), "code": receipt.get("reason"),
                            "message": text(str(receipt.get("reason") or ""))})
        self.board.note("late_rejections", late[:5])

    def snapshot(self) -> dict:
        """Live status for the status page."""
        manifest = self.manifest()
        return self.board.snapshot(
            queue_depth=self.outbox.depth(), online=bool(self.syncer and self.syncer.online),
            manifest_loaded=manifest is not None, version_label=f"考勤机 {self.config.device_id} · v{__version__}",
            site_name=(manifest.site.get("name") or "") if manifest else "",
            lessons=_lesson_lines(manifest), pin_asked=screen_pin_hub().waiting.is_set(),
            refused=self.syncer.refused if self.syncer else None,
            last_sync_at=(self.syncer.last_success_at.isoformat()
                          if self.syncer and self.syncer.last_success_at else None))

    def handle(self, scan: Scan) -> None:
        """Hand one scan to the controller, surviving any bug in the flow."""
        try:
            self.controller.handle(scan)
        except Exception:  # noqa: BLE001 - the kiosk must keep serving the queue of people
            log.exception("scan handling crashed; back to idle")
            self.controller.reset()

    def run_once(self, idle_s: float | None = None) -> int:
        """Sync, handle whatever the inputs have until they are idle (`once_idle_s`), sync again; 0 if synced."""
        idle_s = self.config.once_idle_s if idle_s is None else idle_s
        if self.syncer:
            try:
                self.syncer.pull_manifest()
            except (NetworkError, HttpError) as exc:
                log.warning("manifest download failed: %s; using the cached copy", exc)
        last = time.monotonic()
        while True:
            live = {r: d for r, d in self.inputs.items() if not getattr(d, "exhausted", False)}
            got = False
            for role, device in live.items():
                try:
                    value = read_scan(role, device, 0.05)
                except DeviceError as exc:
                    log.warning("%s device failed: %s", role, exc)
                    continue
                if value is not None:
                    got = True
                    self.handle(Scan(role, value))
            self.controller.tick()
            if got:
                last = time.monotonic()
            elif not live or time.monotonic() - last >= idle_s:
                break
        if not self.syncer:
            return 0
        try:
            self.syncer.push_all()
            self.syncer.heartbeat()
        except (NetworkError, HttpError) as exc:
            log.warning("upload failed: %s; %d events stay queued", exc, self.outbox.depth())
            return 1
        return 0

    def run_forever(self, stop: threading.Event) -> None:
        """The daemon: input threads, sync thread, status page, controller loop until `stop`."""
        threads, status = [], None
        if self.syncer:
            loop = SyncLoop(self.syncer, interval_s=self.config.sync_interval_s,
                            manifest_refresh_s=self.config.manifest_refresh_s, heartbeat_s=self.config.heartbeat_s,
                            backoff=Backoff(self.config.backoff_base_s, self.config.backoff_cap_s))
            threads.append(threading.Thread(target=loop.run, args=(stop,), name="sync", daemon=True))
        if self.config.status_port:
            try:
                screen = Screen(self.board, self.snapshot, screen_pin_hub()) if self.config.screen else None
                status = StatusServer(self.snapshot, self.config.status_port, screen=screen).start()
                log.info("%s on http://127.0.0.1:%d/", "kiosk screen" if screen else "status page", status.port)
            except OSError as exc:
                log.warning("status page not started: %s", exc)
        if self.controller.camera is not None and self.controller.face_verifier is default_face_verifier:
            threads.append(threading.Thread(target=_warm_up_faces, name="face-warm-up", daemon=True))
        for thread in threads:
            thread.start()
        scans: queue.Queue[Scan] = queue.Queue()
        pump = InputPump(self.inputs, scans, stop).start()
        try:
            while not stop.is_set():
                try:
                    self.handle(scans.get(timeout=0.2))
                except queue.Empty:
                    pass
                self.controller.tick()
        finally:
            stop.set()
            pump.join()
            if status:
                status.stop()
            for thread in threads:
                thread.join(timeout=5)

    def close(self) -> None:
        """Release devices and databases."""
        for device in self.devices.values():
            try:
                device.close()
            except Exception:  # noqa: BLE001 - closing the rest matters more
                log.exception("closing a device failed")
        self.outbox.close()
        self.cache.close()


def _lesson_lines(manifest) -> list[dict]:
    """Today's lessons at the site for the screen: 'HH:MM-HH:MM' (Asia/Shanghai) and the title."""
    if manifest is None:
        return []
    lessons = sorted(manifest.lessons.values(), key=lambda le: le.starts_at)
    return [{"time": f"{le.starts_at.astimezone(SHANGHAI):%H:%M}-{le.ends_at.astimezone(SHANGHAI):%H:%M}",
             "title": le.title} for le in lessons]


def _warm_up_faces() -> None:
    # Loading dlib's models takes about half a second; pay it before the first person arrives.
    try:
        from backend.faces import warm_up

        warm_up()
    except Exception:  # noqa: BLE001 - verification will report the problem when it is used
        log.exception("face models could not be loaded")
