"""outcomes endpoints (area under construction in this change set)."""
from apiflask import APIBlueprint

bp = APIBlueprint("outcomes", __name__, tag="Outcomes")
