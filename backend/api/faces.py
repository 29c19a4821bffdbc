"""faces endpoints (area under construction in this change set)."""
from apiflask import APIBlueprint

bp = APIBlueprint("faces", __name__, tag="Faces")
