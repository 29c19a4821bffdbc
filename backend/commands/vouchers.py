"""`flask --app backend vouchers expire`: mark due unused vouchers expired by hand (reads show it already; the
worker's `vouchers-expire` sweep does the same every 10 minutes)."""
from __future__ import annotations

import click
from flask.cli import AppGroup

vouchers_cli = AppGroup("vouchers", help="Voucher maintenance.")


@vouchers_cli.command("expire")
def expire_cmd():
    """Mark every claimed voucher past its expiry as expired, for statistics; prints the count."""
    from ..clock import now
    from ..services.voucher_use import expire_due
    from ..unit_of_work import unit_of_work

    with unit_of_work():
        codes = expire_due(now(), "cli:vouchers-expire")
    click.echo(f"expired {len(codes)} vouchers")


commands = [vouchers_cli]
