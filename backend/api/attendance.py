"""attendance endpoints (area under construction in this change set)."""
from apiflask import APIBlueprint

bp = APIBlueprint("attendance", __name__, tag="Attendance")
