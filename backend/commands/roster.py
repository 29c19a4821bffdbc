"""`flask --app backend roster import PLAN_ID FILE.xlsx`: the API's roster import from the command line."""
from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

roster_cli = AppGroup("roster", help="Training plan rosters (参训名单).")


@roster_cli.command("import")
@click.argument("plan_id", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_cmd(plan_id: int, file: Path) -> None:
    """Import an xlsx roster (the template's columns) into a plan, with the same rules as the API."""
    from flask import current_app

    from ..clock import now
    from ..domain.errors import AppError, not_found
    from ..domain.messages import message_for
    from ..extensions import db
    from ..models import TrainingPlan
    from ..security.actor import Actor
    from ..services import roster, roster_xlsx, spreadsheets
    from ..unit_of_work import unit_of_work

    t = now()
    operator = Actor(role="admin", subject="cli:roster")
    try:
        with unit_of_work():
            plan = db.session.get(TrainingPlan, plan_id)
            if plan is None:
                raise not_found("not_found", object="training_plans", id=plan_id)
            # End the lookup's transaction before parsing: on SQLite it holds the write lock (BEGIN IMMEDIATE).
            db.session.rollback()
            rows = spreadsheets.read_table(file.read_bytes(), roster_xlsx.ROSTER_COLUMNS,
                                           roster_xlsx.ROSTER_REQUIRED, roster.MAX_ROWS, sheet=roster_xlsx.ROSTER_SHEET)
            roster.check_roster_open(plan, t)
            with click.progressbar(length=len(rows), label=f"导入 {file.name}", show_pos=True) as bar:
                result = roster.import_roster(operator, plan, rows, t, current_app.config,
                                               source="xlsx", progress=bar.update)
    except AppError as err:
        raise click.ClickException(f"{err.code}: {message_for(err.code)} {err.details or ''}".strip()) from None
    click.echo(f"方案 {plan.id}「{plan.title}」：导入 {result['imported']} 行，失败 {result['failed']} 行，"
               f"比对不符合 {result['ineligible']} 行")
    for row in result["rows"]:
        if row.errors:
            problems = "; ".join(f"{e['code']}（{message_for(e['code'])}）" for e in row.errors)
            click.echo(f"  第 {row.row} 行 {row.masked or '-'}: {problems}")
        elif row.reasons:
            click.echo(f"  第 {row.row} 行 {row.masked}: 已导入，比对不符合 {', '.join(row.reasons)}")


commands = [roster_cli]
