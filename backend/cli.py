"""Command-line administration: `flask --app backend users create|seed-demo|...`."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

users_cli = AppGroup("users", help="Staff accounts.")


@users_cli.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "supervisor", "institution"]))
@click.option("--region", "region_code", default=None)
@click.option("--institution", "institution_id", type=int, default=None)
def create_user_cmd(username, password, role, region_code, institution_id):
    """Create a staff user."""
    from .clock import now
    from .domain.errors import AppError
    from .services.users import create_user
    from .unit_of_work import unit_of_work
    try:
        with unit_of_work():
            user = create_user({"username": username, "password": password, "role": role,
                                "region_code": region_code, "institution_id": institution_id}, "cli:admin", now())
    except AppError as err:
        raise click.ClickException(f"{err.code}: {err.details}") from None
    click.echo(f"created user {user.id} ({user.role})")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when staff users already exist.")
def seed_demo_cmd(if_empty):
    """Load the demo region, institution, site, plan, lessons, trainees and kiosk."""
    from .seed import seed_demo
    logins = seed_demo(if_empty=if_empty)
    if logins is None:
        click.echo("demo data already present")
        return
    click.echo("Demo logins:")
    for line in logins:
        click.echo("  " + line)


@click.command("audit-verify")
def audit_verify_cmd():
    """Check the audit log's hash chain."""
    from .services.audit import verify_chain
    ok, count, problem = verify_chain()
    if not ok:
        raise click.ClickException(f"audit chain broken after {count} entries: {problem}")
    click.echo(f"audit chain intact: {count} entries")


def register_cli(app: Flask) -> None:
    """Attach command groups."""
    app.cli.add_command(users_cli)
    app.cli.add_command(seed_demo_cmd)
    audit_group = AppGroup("audit", help="Audit log.")
    audit_group.add_command(audit_verify_cmd, "verify")
    app.cli.add_command(audit_group)
    # Each area may add commands in backend/commands/<area>.py as a module-level `commands` list.
    import importlib
    import pkgutil

    from . import commands as commands_pkg
    for info in pkgutil.iter_modules(commands_pkg.__path__):
        module = importlib.import_module(f"{commands_pkg.__name__}.{info.name}")
        for command in getattr(module, "commands", []):
            app.cli.add_command(command)
