"""sites endpoints (area under construction in this change set)."""
from apiflask import APIBlueprint

bp = APIBlueprint("sites", __name__, tag="Sites")
