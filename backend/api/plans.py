"""plans endpoints (area under construction in this change set)."""
from apiflask import APIBlueprint

bp = APIBlueprint("plans", __name__, tag="Plans")
