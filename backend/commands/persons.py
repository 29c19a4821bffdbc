"""`flask --app backend persons set-pin ID_NUMBER`: the card PIN kiosks accept instead of a face."""
from __future__ import annotations

import click
from flask.cli import AppGroup

persons_cli = AppGroup("persons", help="Real-name persons.")

_PROBLEMS = {"pin_format": "PIN 须为 6-12 位数字 / the PIN must be 6-12 digits",
             "pin_too_simple": "PIN 过于简单 / the PIN is too simple (repeated or consecutive digits)"}


@persons_cli.command("set-pin")
@click.argument("id_number")
def set_pin_cmd(id_number: str):
    """Set (or replace) a person's card PIN; asks for it twice without echoing it."""
    from ..clock import now
    from ..domain.identity import mask_id_number, normalize_id_number
    from ..domain.pins import hash_pin, pin_problem
    from ..extensions import db
    from ..services import audit
    from ..services.persons import find_by_id_number

    number = normalize_id_number(id_number)
    person = find_by_id_number(number)
    if person is None:
        raise click.ClickException(f"no person with ID number {mask_id_number(number)}")
    pin = click.prompt("PIN", hide_input=True, confirmation_prompt="PIN (again)")
    problem = pin_problem(pin)
    if problem:
        raise click.ClickException(_PROBLEMS[problem])
    t = now()
    had_pin = person.pin_hash is not None
    try:
        person.pin_hash = hash_pin(pin)
        # Whether a PIN existed, never the hash: the audit log is read by more people than the database.
        audit.record("cli:persons-set-pin", "person.set_pin", "person", person.id, t,
                     before={"pin_set": had_pin}, after={"pin_set": True})
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    click.echo(f"PIN {'replaced' if had_pin else 'set'} for person {person.id} ({person.id_number_masked}); "
               "kiosks get it with their next manifest")


commands = [persons_cli]
