"""vouchers endpoints (area under construction in this change set)."""
from apiflask import APIBlueprint

bp = APIBlueprint("vouchers", __name__, tag="Vouchers")
