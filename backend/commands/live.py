"""`flask --app backend live prune --days 7`: drop old LiveEvent rows (the replay buffer of the stream).

Attendance events themselves are the permanent record; LiveEvent rows only serve Last-Event-ID
replay after a reconnect, so a few days are plenty.
"""
from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import AppGroup

live_cli = AppGroup("live", help="Live attendance stream maintenance.")


@live_cli.command("prune")
@click.option("--days", type=click.IntRange(min=1), default=7, show_default=True,
              help="Keep the rows of the last N days.")
def prune_cmd(days):
    """Delete LiveEvent rows older than --days; prints the count."""
    from sqlalchemy import delete

    from ..clock import now
    from ..extensions import db
    from ..models import LiveEvent
    from ..unit_of_work import unit_of_work

    with unit_of_work():
        result = db.session.execute(delete(LiveEvent).where(LiveEvent.at < now() - timedelta(days=days)))
    click.echo(f"pruned {result.rowcount} live events older than {days} days")


commands = [live_cli]
