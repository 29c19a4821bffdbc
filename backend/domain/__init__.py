"""Pure business rules: no Flask, no SQLAlchemy. `now` and the actor are always arguments."""
