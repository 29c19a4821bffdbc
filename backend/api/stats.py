"""stats endpoints (area under construction in this change set)."""
from apiflask import APIBlueprint

bp = APIBlueprint("stats", __name__, tag="Stats")
