"""Extension objects, created unbound and wired in create_app()."""
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING)


# expire_on_commit=False: responses are serialised after the unit of work commits, and
# reloading every row after commit would cost a round trip per object for nothing.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()


def _rate_key() -> str:
    """Rate-limit key: the account when known (many phones share one carrier address)."""
    from flask import g, request
    actor = getattr(g, "actor", None)
    if actor is not None:
        return actor.rate_key
    return request.remote_addr or "unknown"


# Public lookups of a certificate by number (its API record and its pages): numbers are sequential,
# so slow down anyone walking through them (per client address).
PUBLIC_LOOKUP_LIMIT = "120 per minute"
limiter = Limiter(key_func=_rate_key, default_limits=[], headers_enabled=True)
