"""python -m kiosk [check] [--config FILE] [--once]: run the training-site kiosk daemon, or check its set-up."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from kiosk import __version__
from kiosk.config import ConfigError, load_config
from kiosk.devices import DeviceUnavailable

log = logging.getLogger("kiosk")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m kiosk", description="Training-site attendance kiosk.")
    parser.add_argument("command", nargs="?", choices=("run", "check", "provision"), default="run",
                        help="run the daemon (default); check config, devices, server, clock, activation "
                             "and today's manifest step by step (exit 1 if a step fails); or provision: "
                             "scan the console's QR and write the secret file and kiosk.toml")
    parser.add_argument("--scanner", default="stdin:", help="provision: the QR scanner's device URL")
    parser.add_argument("--out", default="/etc/peixunquan", help="provision: where kiosk.toml and the secret go")
    parser.add_argument("--data-dir", default=None, help="provision: the kiosk's data_dir in the written config")
    parser.add_argument("--config", help="TOML settings file (see kiosk/kiosk.example.toml)")
    parser.add_argument("--once", action="store_true",
                        help="sync, handle pending input until idle, sync again, exit (1 if upload failed)")
    parser.add_argument("--version", action="version", version=__version__)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    if args.command == "provision":
        return _provision(args)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        if args.command == "check":
            print(f"[失败] 配置  {exc}（参考 kiosk/kiosk.example.toml）")
            return 1
        print(f"kiosk: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        from kiosk.check import report, run_checks

        return report(run_checks(config), sys.stdout)
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Imported after logging is set up: the runtime pulls in the device adapters.
    from kiosk.runtime import Kiosk

    try:
        kiosk = Kiosk(config)
    except DeviceUnavailable as exc:
        print(f"kiosk: device error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.once:
            return kiosk.run_once()
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        log.info("kiosk %s started (device %s)", __version__, config.device_id)
        kiosk.run_forever(stop)
        return 0
    finally:
        kiosk.close()


def _provision(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kiosk.devices import open_device
    from kiosk.provision import read_code, write_config

    print("请用考勤机的扫码器扫描机构后台“登记考勤机”后显示的配置二维码……")
    try:
        scanner = open_device(args.scanner, "qr")
        code = read_code(scanner)
    except (ValueError, DeviceUnavailable) as exc:
        print(f"kiosk: provisioning failed: {exc}", file=sys.stderr)
        return 2
    config_path, secret_path = write_config(code, Path(args.out),
                                            Path(args.data_dir) if args.data_dir else None)
    print(f"已写入 {config_path}（密钥在 {secret_path}，仅本用户可读）：服务器 {code['url']}，设备 {code['device_id']}")
    print(f"下一步：python -m kiosk check --config {config_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
