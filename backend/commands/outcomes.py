"""`flask --app backend retention [--apply]`: the 4-year retention of personal data (source 002)."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("retention")
@click.option("--apply", "do_apply", is_flag=True,
              help="Delete face templates and anonymise persons inactive for RETENTION_YEARS (default: report only).")
@click.option("--years", type=int, default=None, help="Override RETENTION_YEARS for this run.")
@with_appcontext
def retention_cmd(do_apply: bool, years: int | None):
    """Report records older than the retention period; with --apply purge or anonymise them."""
    from ..clock import now
    from ..services import retention
    from ..unit_of_work import unit_of_work

    years = years if years is not None else int(current_app.config["RETENTION_YEARS"])
    if years < 1:
        raise click.ClickException("--years must be at least 1")
    t = now()
    found = retention.report(t, years)
    click.echo(f"retention: {years} years, cutoff {found['cutoff']}")
    for key, value in found.items():
        if key != "cutoff":
            click.echo(f"  {key}: {value}")
    if not do_apply:
        click.echo("report only; run with --apply to delete face templates and anonymise")
        return
    with unit_of_work():
        done = retention.apply(t, years)
    click.echo("applied:")
    for key, value in done.items():
        if key != "cutoff":
            click.echo(f"  {key}: {value}")


commands = [retention_cmd]
