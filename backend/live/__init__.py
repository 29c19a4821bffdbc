"""Live fan-out of attendance events to supervisors' streams.

Every attendance event (phone, kiosk or approved make-up, accepted or rejected) is stored as a
`LiveEvent` row in the same transaction as the event itself, and published to the broker only
after that transaction commits, so a stream never shows an event the database does not have.
The database is the source of truth: each stream also polls `live_events`, and a `LiveCursor`
puts both sources in id order. The broker is the fast path — Redis pub/sub when `REDIS_URL` is
set (any worker or instance reaches any supervisor at once), an in-process fan-out otherwise
(other workers' events then arrive through the poll).
"""
from __future__ import annotations

from .brokers import Broker, LocalBroker, RedisBroker, Subscription, broker
from .cursor import LiveCursor
from .events import publish_attendance, queue_publication

__all__ = ["Broker", "LiveCursor", "LocalBroker", "RedisBroker", "Subscription", "broker", "publish_attendance",
           "queue_publication"]
