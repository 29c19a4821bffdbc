"""Today's manifest (GET /device/manifest) as lookup tables: people by card key, lessons by id."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from backend.domain.attendance import DEFAULT_POLICY, KIOSK_PARAMS, AttendancePolicy, policy_from_params

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lesson:
    """A lesson at this kiosk's site."""

    lesson_id: object  # whatever type the server uses; sent back unchanged in events
    starts_at: datetime
    ends_at: datetime
    title: str = ""
    class_hours: float = 0.0
    # The plan's attendance parameters (windows, face threshold) the server judges this lesson's events by.
    policy: AttendancePolicy = DEFAULT_POLICY


@dataclass(frozen=True)
class Person:
    """A trainee on today's roster at this site."""

    person_id: object
    name: str
    card_key: str | None
    face_encoding: tuple[float, ...] | None
    lesson_ids: frozenset[str]
    pin_set: bool = False
    flagged: bool = False  # the server holds trust flags on this person: the kiosk asks a liveness challenge


def _policy(*layers) -> AttendancePolicy:
    """The judge's thresholds from the manifest's policy layers (site region, then the lesson's plan): known,
    well-formed keys only, so a newer server's extra keys or a bad value never stop the kiosk."""
    merged: dict = {}
    for layer in layers:
        if isinstance(layer, dict):
            merged.update({k: v for k, v in layer.items() if k in KIOSK_PARAMS
                           and isinstance(v, int | float) and not isinstance(v, bool) and v >= 0})
    return policy_from_params(merged)


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"lesson time without offset: {text!r}")
    return value


class Manifest:
    """Read-only view of one day's manifest."""

    def __init__(self, day: date, site: dict | None, lessons: list[Lesson], people: list[Person],
                 pin_key: str | None = None, policy: AttendancePolicy = DEFAULT_POLICY):
        self.day = day
        self.policy = policy  # the site's region's parameters: what a lesson without its own policy uses
        self.site = site or {}
        self.pin_key = pin_key
        try:
            self.card_salt = bytes.fromhex(self.site.get("card_salt") or "") or None
        except ValueError:
            log.warning("manifest card salt unreadable: cards cannot be looked up")
            self.card_salt = None
        self.lessons = {str(lesson.lesson_id): lesson for lesson in lessons}
        self.people = {str(p.person_id): p for p in people}
        self._by_card_key = {p.card_key.lower(): p for p in people if p.card_key}

    @classmethod
    def from_dict(cls, data: dict, day: date) -> Manifest:
        """Parse the server's JSON; malformed rows are skipped with a warning, not fatal."""
        lessons = []
        site_policy = data.get("policy")
        for row in data.get("lessons") or []:
            try:
                lessons.append(Lesson(row.get("lesson_id", row.get("id")), _aware(row["starts_at"]),
                                      _aware(row["ends_at"]), row.get("title") or "",
                                      float(row.get("class_hours") or 0), _policy(site_policy, row.get("policy"))))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("manifest lesson skipped: %s", exc)
        people = []
        for row in data.get("people") or []:
            try:
                encoding = row.get("face_encoding")
                people.append(Person(
                    person_id=row["person_id"], name=row.get("name") or "", card_key=row.get("card_key"),
                    face_encoding=tuple(float(x) for x in encoding) if encoding else None,
                    lesson_ids=frozenset(str(i) for i in row.get("lesson_ids") or []),
                    pin_set=bool(row.get("pin_set")), flagged=bool(row.get("flagged"))))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("manifest person skipped: %s", exc)
        return cls(day, data.get("site"), lessons, people, data.get("pin_key"), _policy(site_policy))

    def by_card_key(self, key: str) -> Person | None:
        """The person whose card key (scrypt of the ID number under the site's salt) this is."""
        return self._by_card_key.get(key.lower())

    def person(self, person_id) -> Person | None:
        """The person with this id, if on today's roster here."""
        return self.people.get(str(person_id))

    def lessons_of(self, person: Person) -> list[Lesson]:
        """The person's lessons at this site today, earliest first."""
        found = [self.lessons[i] for i in person.lesson_ids if i in self.lessons]
        return sorted(found, key=lambda lesson: lesson.starts_at)
