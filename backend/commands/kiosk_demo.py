"""`flask --app backend demo-kiosk`: the kiosk quick start on the demo data (README "Kiosk quick start")."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext


def _demo_face():
    """The astronaut photo of scikit-image (public domain, NASA) when it is installed, else None."""
    try:
        from skimage import data
    except ImportError:
        return None
    return data.astronaut()


@click.command("demo-kiosk")
@click.option("--out", "out_dir", default=None, help="directory for kiosk.toml, the secret and frames "
                                                     "(default: INSTANCE/kiosk-demo)")
@click.option("--server-url", default="http://127.0.0.1:5000", show_default=True)
@click.option("--face-image", type=click.Path(exists=True, dir_okay=False), default=None,
              help="a photo with one face: the first trainee's face and the fake camera's picture "
                   "(default: scikit-image's astronaut when installed)")
@with_appcontext
def demo_kiosk_cmd(out_dir, server_url, face_image):
    """Lesson in session now, PINs and a face for the demo trainees, an active kiosk and its config."""
    import numpy as np
    from flask import current_app

    from ..clock import now
    from ..seed_kiosk import DemoMissing, seed_kiosk_demo

    face = None
    if face_image:
        from PIL import Image
        face = np.asarray(Image.open(face_image).convert("RGB"))
    else:
        face = _demo_face()
    out = Path(out_dir) if out_dir else Path(current_app.instance_path) / "kiosk-demo"
    try:
        demo = seed_kiosk_demo(now(), out.resolve(), server_url.rstrip("/"), face)
    except DemoMissing as exc:
        raise click.ClickException(str(exc)) from None
    fmt = "%m-%d %H:%M"
    from ..domain.attendance import SHANGHAI
    click.echo(f"考勤机 {demo.device_id} 已登记并激活；配置 {demo.config_path}（密钥在 {demo.secret_path}，仅本用户可读）")
    click.echo(f"正在上课：{demo.lesson_title} {demo.starts_at.astimezone(SHANGHAI):{fmt}} - "
               f"{demo.ends_at.astimezone(SHANGHAI):%H:%M}（北京时间）")
    click.echo("演示卡号（在考勤机终端输入卡号即刷卡）：")
    for card in demo.cards:
        way = "人脸（摄像头回放演示照片）" if card.face else f"刷卡 + 密码 {card.pin}"
        click.echo(f"  {card.name}  卡号 {card.id_number}  密码 {card.pin}  签到方式：{way}")
    click.echo("检查：  .venv/bin/python -m kiosk check --config " + str(demo.config_path))
    click.echo("运行：  .venv/bin/python -m kiosk --config " + str(demo.config_path))


commands = [demo_kiosk_cmd]
