"""live endpoints (area under construction in this change set)."""
from apiflask import APIBlueprint

bp = APIBlueprint("live", __name__, tag="Live")
