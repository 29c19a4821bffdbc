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
    from ..domain.errors import AppError
    from ..domain.identity import mask_id_number, normalize_id_number
    from ..services.persons import find_by_id_number
    from ..services.pins import set_pin
    from ..unit_of_work import unit_of_work

    number = normalize_id_number(id_number)
    person = find_by_id_number(number)
    if person is None:
        raise click.ClickException(f"no person with ID number {mask_id_number(number)}")
    pin = click.prompt("PIN", hide_input=True, confirmation_prompt="PIN (again)")
    try:
        with unit_of_work():
            had_pin = set_pin(person, pin, "cli:persons-set-pin", now())
    except AppError as err:
        raise click.ClickException(_PROBLEMS.get(err.code, err.code)) from None
    click.echo(f"PIN {'replaced' if had_pin else 'set'} for person {person.id} ({person.id_number_masked}); "
               "kiosks get it with their next manifest")


commands = [persons_cli]
