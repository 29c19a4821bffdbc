"""`python -m kiosk check`: a site technician's verdict on one kiosk, step by step, in plain Chinese.

Each step says 通过 (pass), 注意 (warning: works, but not as intended) or 失败 (fail) and what to do.
The steps follow what the daemon needs, in order: settings, the data directory, each configured device,
the server, the clock (requests are signed with a timestamp the server accepts within a window), the
device's registration and secret, and today's manifest. Nothing is written to the server: the device
is proven by a signed read of today's manifest.
"""
from __future__ import annotations

import email.utils
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from backend.domain.attendance import lesson_day
from kiosk.config import KioskConfig
from kiosk.devices import DeviceError, open_device
from kiosk.http_client import API_PREFIX, DeviceClient, HttpError, NetworkError

PASS, WARN, FAIL = "通过", "注意", "失败"
# The server refuses signatures more than DEVICE_MAX_SKEW_S (300 s by default) off its clock; warn well before.
SKEW_WARN_S = 30.0
SKEW_FAIL_S = 300.0
ROLE_NAMES = {"card": "读卡器", "qr": "扫码器", "camera": "摄像头", "pinpad": "密码键盘"}
_UNAUTHORIZED = {
    "device_revoked": "设备已被吊销：请在机构后台重新登记设备，并使用新的编号和密钥",
    "device_id": "服务器不认识这个设备编号：请核对 device_id（登记设备后显示）",
    "skew": "设备时钟与服务器相差太多，签名被拒：请校准本机时间（NTP）",
    "nonce": "请求被当作重放拒绝：请稍后重试",
}


@dataclass(frozen=True)
class Verdict:
    """One step's outcome: its name, PASS / WARN / FAIL, and the sentence a technician acts on."""

    step: str
    level: str
    detail: str

    def line(self) -> str:
        """The printed form: `[通过] 服务器  ……`."""
        return f"[{self.level}] {self.step}  {self.detail}"


def check_data_dir(config: KioskConfig) -> Verdict:
    """The outbox and manifest cache live in data_dir: it must exist (or be creatable) and be writable."""
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        probe = config.data_dir / ".kiosk-check"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        return Verdict("数据目录", FAIL, f"{config.data_dir} 不可写（{exc.strerror or exc}）：签到记录无处保存")
    return Verdict("数据目录", PASS, f"{config.data_dir} 可写")


def check_devices(config: KioskConfig, opener: Callable[[str, str], object] = open_device) -> list[Verdict]:
    """Open every configured device once; an empty URL is reported as what the kiosk then cannot do."""
    out = []
    urls = {"card": config.devices.card, "qr": config.devices.qr, "camera": config.devices.camera,
            "pinpad": config.devices.pinpad}
    for role, url in urls.items():
        name = ROLE_NAMES[role]
        if not url:
            missing = {"camera": "未配置：不能核验人脸，只能刷卡 + 密码签到",
                       "pinpad": "未配置：刷卡后不能输入密码，只能核验人脸",
                       "card": "未配置：不能刷社保卡", "qr": "未配置：不能扫学员二维码"}[role]
            out.append(Verdict(name, WARN, missing))
            continue
        try:
            device = opener(url, role)
        except DeviceError as exc:
            out.append(Verdict(name, FAIL, f"{url} 打不开：{exc}"))
            continue
        except (OSError, ValueError) as exc:
            out.append(Verdict(name, FAIL, f"{url} 打不开：{exc}"))
            continue
        try:
            level, detail = _probe(role, url, device)
        except DeviceError as exc:
            level, detail = FAIL, f"{url} 读取失败：{exc}"
        finally:
            close = getattr(device, "close", None)
            if close is not None:
                close()
        out.append(Verdict(name, level, detail))
    return out


def _probe(role: str, url: str, device) -> tuple[str, str]:
    # Adapters open their port on the first read, so one short read is what proves the device is there
    # (a card on the reader or a scan in the scanner's buffer is read and dropped: harmless for a check).
    if getattr(device, "is_fallback", False):
        return WARN, f"{url}：{device.fallback_reason}"
    if role == "camera":
        frame = device.capture(timeout=2.0)
        if frame is None:
            return FAIL, f"{url} 没有画面：请检查摄像头连接或换一个编号"
        return PASS, f"{url} 有画面（{frame.shape[1]}×{frame.shape[0]}）"
    if role == "card":
        device.read_card(0.05)
    elif role == "qr":
        device.read_code(0.05)
    # A PIN pad is not read here: on a shared terminal a probe would take the technician's next line.
    return PASS, f"{url} 已连接"


def server_clock(base_url: str, timeout: float,
                 opener: urllib.request.OpenerDirector | None = None) -> tuple[float, float | None]:
    """GET /healthz (unsigned): the round trip in seconds and the server's clock from its Date header."""
    opener = opener or urllib.request.build_opener()
    started = time.monotonic()
    with opener.open(urllib.request.Request(base_url + API_PREFIX + "/healthz"), timeout=timeout) as resp:
        resp.read()
        date = resp.headers.get("Date")
    rtt = time.monotonic() - started
    try:
        server = email.utils.parsedate_to_datetime(date).timestamp() if date else None
    except (TypeError, ValueError):
        server = None
    return rtt, server


def check_server(config: KioskConfig, now: Callable[[], float] = time.time,
                 opener: urllib.request.OpenerDirector | None = None) -> tuple[list[Verdict], float]:
    """Whether the server answers, and how far the local clock is from it; returns the verdicts and the skew."""
    if not config.server_url:
        return [Verdict("服务器", WARN, "未配置 server_url：只能离线记录，签到不会上传")], 0.0
    try:
        rtt, server = server_clock(config.server_url, config.http_timeout_s, opener)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return [Verdict("服务器", FAIL, f"{config.server_url} 连不上（{reason}）：请检查网络和地址；"
                                         "断网时签到照常保存，联网后自动上传")], 0.0
    verdicts = [Verdict("服务器", PASS, f"{config.server_url} 可连接（往返 {rtt * 1000:.0f} 毫秒）")]
    if server is None:
        verdicts.append(Verdict("时钟", WARN, "服务器未给出时间，无法比较"))
        return verdicts, 0.0
    skew = now() - server
    text = f"本机比服务器{'快' if skew > 0 else '慢'} {abs(skew):.0f} 秒"
    if abs(skew) > SKEW_FAIL_S:
        verdicts.append(Verdict("时钟", FAIL, f"{text}：超过 {SKEW_FAIL_S:.0f} 秒签名会被拒；设备会按服务器时间"
                                              "签名，但签到时间会记错，请校准本机时间（NTP）"))
    elif abs(skew) > SKEW_WARN_S:
        verdicts.append(Verdict("时钟", WARN, f"{text}：请校准本机时间（NTP），签到时间以本机时钟记录"))
    else:
        verdicts.append(Verdict("时钟", PASS, text))
    return verdicts, skew


def check_device(config: KioskConfig, client: DeviceClient, day) -> list[Verdict]:
    """A signed read of the day's manifest proves the id, the secret and the activation at once."""
    try:
        manifest = client.get("/device/manifest", {"date": day.isoformat()})
    except HttpError as exc:
        if exc.status == 403 and exc.code == "device_not_active":
            return [Verdict("设备", FAIL, f"设备 {config.device_id} 尚未激活：请所在地区的监管人员在看板"
                                           "“设备”页激活后再试（密钥正确）")]
        if exc.status == 401:
            reason = str(exc.details.get("reason", ""))
            text = _UNAUTHORIZED.get(reason, "设备未激活或密钥错误：请核对 device_id 和 device_secret")
            return [Verdict("设备", FAIL, text)]
        return [Verdict("设备", FAIL, f"服务器拒绝（HTTP {exc.status} {exc.code}）")]
    except NetworkError as exc:
        return [Verdict("设备", FAIL, f"读取名单时网络中断（{exc}）")]
    site = (manifest.get("site") or {}).get("name") or "（未知站点）"
    lessons = manifest.get("lessons") or []
    people = manifest.get("people") or []
    verdicts = [Verdict("设备", PASS, f"设备 {config.device_id} 已激活，密钥正确，站点：{site}")]
    if not lessons:
        verdicts.append(Verdict("名单", WARN, f"{day.isoformat()} 本站点没有线下课：今天刷卡都会被拒"))
    else:
        verdicts.append(Verdict("名单", PASS, f"{day.isoformat()} 共 {len(lessons)} 节课，{len(people)} 名学员"))
    return verdicts


def run_checks(config: KioskConfig, *, opener: Callable[[str, str], object] = open_device,
               now: Callable[[], float] = time.time,
               http_opener: urllib.request.OpenerDirector | None = None) -> list[Verdict]:
    """Every step in order; the device step is skipped when the server cannot be reached."""
    verdicts = [Verdict("配置", PASS, f"设备 {config.device_id}，服务器 {config.server_url or '（离线）'}"),
                check_data_dir(config)]
    verdicts += check_devices(config, opener)
    server_verdicts, skew = check_server(config, now, http_opener)
    verdicts += server_verdicts
    if config.server_url and server_verdicts[0].level == PASS:
        # Sign with the server's time, as the daemon does after its first refusal, so a skewed clock
        # is reported once (above) and does not hide whether the id and secret are right.
        client = DeviceClient(config.server_url, config.device_id, config.device_secret,
                              timeout=config.http_timeout_s, now=lambda: now() - skew, opener=http_opener)
        verdicts += check_device(config, client, lesson_day(datetime.fromtimestamp(now() - skew, UTC)))
    return verdicts


def report(verdicts: list[Verdict], out) -> int:
    """Print each verdict and a summary line; the exit code is 1 when any step failed."""
    for v in verdicts:
        print(v.line(), file=out)
    failed = [v for v in verdicts if v.level == FAIL]
    warned = [v for v in verdicts if v.level == WARN]
    if failed:
        print(f"结论：{len(failed)} 项失败，请按提示处理后再运行 python -m kiosk check", file=out)
        return 1
    print("结论：可以使用" + (f"（{len(warned)} 项需注意）" if warned else ""), file=out)
    return 0
