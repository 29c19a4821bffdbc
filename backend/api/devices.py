"""devices endpoints (area under construction in this change set)."""
from apiflask import APIBlueprint

bp = APIBlueprint("devices", __name__, tag="Devices")
