"""Print the route → roles table from the running app (to review and paste into matrix.py)."""
from tests.authz.routes import declared_roles

if __name__ == "__main__":
    from backend import create_app
    app = create_app({"SECRET_KEY": "x" * 40, "DATA_KEY": "y" * 40})
    for key, roles in sorted(declared_roles(app).items()):
        print(f'    "{key}": {set(sorted(roles))!r},')
