"""backend.jobs.lease on SQLite and PostgreSQL: concurrent claimers never share a row, an expired lease is
claimable again, the final update is conditional, and sweep_due finishes each row once."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update

from backend.extensions import db
from backend.jobs import claim, finish, sweep_due
from backend.models.types import UTCDateTime

# Not the models' metadata: the migration tests compare that with the database.
META = MetaData()
ITEMS = Table("jobs_lease_items", META, Column("id", Integer, primary_key=True),
              Column("state", String(8), nullable=False), Column("lease_until", UTCDateTime()))
DUE = ITEMS.c.state == "due"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def items(app):
    """The test table with `n` due rows (call it); dropped afterwards."""
    META.create_all(db.engine)

    def make(n: int) -> list[int]:
        db.session.execute(insert(ITEMS), [{"id": i, "state": "due"} for i in range(1, n + 1)])
        db.session.commit()
        return list(range(1, n + 1))
    yield make
    db.session.rollback()
    META.drop_all(db.engine)


def _states() -> dict[int, tuple[str, datetime | None]]:
    rows = db.session.execute(select(ITEMS.c.id, ITEMS.c.state, ITEMS.c.lease_until)).all()
    db.session.commit()
    return {r.id: (r.state, r.lease_until) for r in rows}


def test_claim_leases_due_rows_once_until_the_lease_expires(app, items):
    items(5)
    db.session.execute(update(ITEMS).where(ITEMS.c.id == 5).values(state="done"))
    db.session.commit()
    assert claim(ITEMS, DUE, T0, limit=3, lease_s=120) == [1, 2, 3]
    assert claim(ITEMS, DUE, T0, limit=3, lease_s=120) == [4]  # 1-3 are leased, 5 is not due
    assert claim(ITEMS, DUE, T0 + timedelta(seconds=119), limit=10, lease_s=120) == []
    states = _states()
    assert states[1] == ("due", T0 + timedelta(seconds=120)) and states[5] == ("done", None)
    # Once the lease runs out (a worker died holding it), the rows are claimable again.
    assert claim(ITEMS, DUE, T0 + timedelta(seconds=121), limit=10, lease_s=120) == [1, 2, 3, 4]


def test_claim_uses_job_lease_s_by_default(app, items):
    items(1)
    app.config["JOB_LEASE_S"] = 7
    assert claim(ITEMS, DUE, T0) == [1]
    assert _states()[1] == ("due", T0 + timedelta(seconds=7))


def test_two_concurrent_claimers_never_take_the_same_row(app, items):
    every = set(items(300))
    start = threading.Barrier(2)
    taken: list[list[int]] = [[], []]
    errors: list[BaseException] = []

    def claimer(k: int) -> None:
        with app.app_context():
            try:
                start.wait()
                while batch := claim(ITEMS, DUE, T0, limit=7, lease_s=120):
                    taken[k].extend(batch)
            except BaseException as exc:  # noqa: BLE001 — reported by the main thread
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=claimer, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    first, second = set(taken[0]), set(taken[1])
    assert len(first) == len(taken[0]) and len(second) == len(taken[1])
    assert not first & second
    # Nothing was lost either: whatever neither took (a claimer stops at its first empty batch) is still free.
    rest = set(claim(ITEMS, DUE, T0, limit=1000, lease_s=120))
    assert first | second | rest == every and not (first | second) & rest


def test_finish_applies_only_while_the_row_is_still_due(app, items):
    items(2)
    claim(ITEMS, DUE, T0, lease_s=120)
    assert finish(ITEMS, 1, DUE, {"state": "done"}) is True
    db.session.commit()
    assert _states()[1] == ("done", None)
    assert finish(ITEMS, 1, DUE, {"state": "done"}) is False  # someone else finished it first
    db.session.rollback()


def test_sweep_due_finishes_each_row_once_and_retries_a_failed_row_after_its_lease(app, items, clock, caplog):
    items(6)
    clock.set(T0)
    calls: list[int] = []

    def work(row_id):
        calls.append(row_id)
        if row_id == 3 and calls.count(3) == 1:
            raise ValueError("outside service refused")
        if row_id == 4:
            return None  # not ready: stays due
        return {"state": "done"}

    assert sweep_due(ITEMS, DUE, work, limit=2, lease_s=60) == 4
    assert calls == [1, 2, 3, 4, 5, 6]
    assert "row 3 of jobs_lease_items failed" in caplog.text
    states = _states()
    assert {i for i, (state, _) in states.items() if state == "done"} == {1, 2, 5, 6}
    assert states[3] == ("due", T0 + timedelta(seconds=60)) and states[4] == ("due", T0 + timedelta(seconds=60))
    assert sweep_due(ITEMS, DUE, work, limit=2, lease_s=60) == 0  # still leased: nothing to do yet
    clock.advance(seconds=61)
    assert sweep_due(ITEMS, DUE, work, limit=2, lease_s=60) == 1
    assert calls[6:] == [3, 4] and _states()[3] == ("done", None)


def test_sweep_due_rolls_back_the_work_of_a_row_finished_elsewhere(app, items, clock):
    items(1)
    clock.set(T0)

    def work(row_id):
        # Another worker (this one's lease having run out) finishes the row meanwhile...
        with app.app_context():
            db.session.execute(update(ITEMS).where(ITEMS.c.id == row_id).values(state="done", lease_until=None))
            db.session.commit()
        # ...while this one does its part of the work.
        db.session.execute(insert(ITEMS).values(id=100 + row_id, state="side"))
        return {"state": "done"}

    assert sweep_due(ITEMS, DUE, work) == 0
    assert _states() == {1: ("done", None)}  # the side effect went with the lost race


def test_claim_takes_no_more_than_its_limit_whatever_the_plan(app, items):
    every = items(10)
    if db.engine.dialect.name == "postgresql":
        # The plan that overshot: the candidates as the rescanned inner side of a nested-loop semi-join.
        for setting in ("enable_hashjoin", "enable_mergejoin", "enable_hashagg", "enable_material", "enable_memoize",
                        "enable_sort"):
            db.session.execute(text(f"SET {setting} = off"))
    assert claim(ITEMS, DUE, T0, limit=3, lease_s=120) == [1, 2, 3]
    assert claim(ITEMS, DUE, T0, limit=3, lease_s=120) == [4, 5, 6]
    assert len(claim(ITEMS, DUE, T0, limit=30, lease_s=120)) == len(every) - 6
