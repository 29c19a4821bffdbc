"""Property-based life cycle: random sequences of claim / return / expire / use / write-off / void against the
service layer keep quantity = remaining + live vouchers, never let remaining go negative, and agree with a
plain Python model of every voucher's state."""
from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from backend.domain import vouchers as rules
from backend.domain.errors import AppError
from backend.extensions import db
from backend.models import Institution, TrainingPlan, User, Voucher, VoucherBatch
from backend.security.actor import Actor
from backend.services import persons, voucher_use
from backend.services import vouchers as svc
from tests.conftest import make_id_number

T0 = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)
LIVE = set(svc.LIVE_STATES)
_serial = itertools.count()


def _setup_world() -> dict:
    """A supervisor, an institution with a plan, and a serial for unique people across examples."""
    user = User(username="stateful-sup", password_hash=generate_password_hash("x", method="pbkdf2:sha256:1000"),
                role="supervisor", region_code="3501", created_at=T0)
    inst = Institution(name="状态机培训学校", credit_code="91350102MA0000000X", region_code="350102",
                       kind="training_org", status="approved", created_at=T0)
    db.session.add_all([user, inst])
    db.session.flush()
    plan = TrainingPlan(institution_id=inst.id, region_code=inst.region_code, title="电工", occupation_code="4-01",
                        plan_type="pre_job", delivery="offline", starts_on=date(2025, 4, 1), ends_on=date(2025, 5, 1),
                        status="approved", created_at=T0)
    db.session.add(plan)
    db.session.commit()
    return {"supervisor": Actor(role="supervisor", subject=f"u:{user.id}", user_id=user.id, region_code="3501"),
            "desk": Actor(role="institution", subject="u:desk", institution_id=inst.id, region_code="350102"),
            "plan": plan}


class VoucherLifecycle(RuleBasedStateMachine):
    """One batch per example, a few people, and a model: person -> (code, status) of the live voucher."""

    world: dict = {}

    @initialize(quantity=st.integers(min_value=1, max_value=4), people=st.integers(min_value=1, max_value=5),
                valid_days=st.integers(min_value=1, max_value=5))
    def setup(self, quantity, people, valid_days):
        self.now = T0
        a = self.world["supervisor"]
        batch = svc.create_batch(a, {
            "name": "状态机券", "region_code": "3501", "occupation_codes": ["4-01"], "quantity": quantity,
            "face_value_fen": 100000, "claim_starts_at": T0 - timedelta(days=1),
            "claim_ends_at": T0 + timedelta(days=365), "valid_days": valid_days,
            # The model uses vouchers by code (the live-QR rule has its own tests).
            "code_enrollment_allowed": True}, T0)
        svc.publish_batch(a, batch.id, T0)
        self.batch_id, self.quantity = batch.id, quantity
        self.actors = []
        for _ in range(people):
            n = next(_serial)
            # A new birth date every thousand people keeps ID numbers unique across many examples.
            birth = (date(1980, 1, 1) + timedelta(days=n // 1000)).strftime("%Y%m%d")
            person = persons.new_person(f"学员{n}", make_id_number(birth=birth, seq=f"{n % 1000:03d}"), T0)
            db.session.add(person)
            db.session.flush()
            self.actors.append(Actor(role="trainee", subject=f"w:{n}", person_id=person.id))
        db.session.commit()
        self.model: dict[int, list] = {}  # person index -> [code, stored status]
        self.ever: set[int] = set()       # person indexes that ever claimed from the batch
        self.returned = 0

    def _do(self, fn):
        """Run one unit of work like the API does: commit on success, roll back on a refused change."""
        try:
            result = fn()
        except AppError as err:
            db.session.rollback()
            return err
        db.session.commit()
        return result

    def _effective(self, i: int) -> str | None:
        entry = self.model.get(i)
        if entry is None:
            return None
        code, status = entry
        expires = db.session.execute(select(Voucher.expires_at).where(Voucher.code == code)).scalar()
        return rules.effective_status(status, expires, self.now)

    def _in_stock(self) -> int:
        return self.quantity - len(self.model)

    @rule(who=st.integers(min_value=0, max_value=4))
    def claim(self, who):
        i = who % len(self.actors)
        out = self._do(lambda: svc.claim(self.actors[i], self.batch_id, None, self.now))
        if i in self.model or i in self.ever:
            # Once per person and batch (source 001), a returned voucher included.
            assert isinstance(out, AppError) and out.code == "already_claimed"
        elif self._in_stock() == 0:
            assert isinstance(out, AppError) and out.code == "sold_out"
        else:
            assert isinstance(out, Voucher), out
            self.model[i] = [out.code, rules.CLAIMED]
            self.ever.add(i)

    @rule(who=st.integers(min_value=0, max_value=4))
    def give_back(self, who):
        i = who % len(self.actors)
        if i not in self.model:
            return
        before = self._effective(i)
        out = self._do(lambda: svc.return_voucher(self.actors[i], self.model[i][0], self.now))
        if before == rules.CLAIMED:
            assert isinstance(out, Voucher) and out.status == rules.RETURNED
            del self.model[i]
            self.returned += 1
        else:
            assert isinstance(out, AppError) and out.code == "not_returnable"

    @rule(days=st.integers(min_value=1, max_value=3))
    def time_passes(self, days):
        self.now += timedelta(days=days)

    @rule()
    def expiry_sweep(self):
        due = {i for i in self.model if self._effective(i) == rules.EXPIRED and self.model[i][1] == rules.CLAIMED}
        codes = self._do(lambda: voucher_use.expire_due(self.now))
        mine = {self.model[i][0] for i in due}
        assert mine <= set(codes)
        for i in due:
            self.model[i][1] = rules.EXPIRED

    @rule(who=st.integers(min_value=0, max_value=4))
    def use(self, who):
        i = who % len(self.actors)
        if i not in self.model:
            return
        before = self._effective(i)
        out = self._do(lambda: voucher_use.use_voucher(self.world["desk"], self.world["plan"], self.model[i][0],
                                                       self.now))
        if before == rules.CLAIMED:
            assert isinstance(out, Voucher) and out.status == rules.USED
            self.model[i][1] = rules.USED
        else:
            assert isinstance(out, AppError) and out.code == before

    @rule(who=st.integers(min_value=0, max_value=4))
    def write_off(self, who):
        i = who % len(self.actors)
        if i not in self.model:
            return
        vid = db.session.execute(select(Voucher.id).where(Voucher.code == self.model[i][0])).scalar()
        codes = self._do(lambda: voucher_use.write_off_vouchers([vid], "system:test", self.now))
        if self.model[i][1] == rules.USED:
            assert codes == [self.model[i][0]]
            self.model[i][1] = rules.WRITTEN_OFF
        else:
            assert codes == []

    @rule(who=st.integers(min_value=0, max_value=4))
    def void(self, who):
        i = who % len(self.actors)
        if i not in self.model:
            return
        out = self._do(lambda: voucher_use.void_voucher(self.world["supervisor"], self.model[i][0], "test", self.now))
        if self.model[i][1] in voucher_use.VOIDABLE:
            assert isinstance(out, Voucher) and out.status == rules.VOIDED
            self.model[i][1] = rules.VOIDED
        else:
            assert isinstance(out, AppError) and out.code == "invalid_state"

    @invariant()
    def stock_is_conserved(self):
        if not hasattr(self, "batch_id"):
            return
        db.session.expire_all()
        remaining = db.session.execute(select(VoucherBatch.remaining).where(VoucherBatch.id == self.batch_id)).scalar()
        rows = db.session.execute(select(Voucher.code, Voucher.status, Voucher.person_id)
                                  .where(Voucher.batch_id == self.batch_id)).all()
        db.session.commit()
        live = [r for r in rows if r.status in LIVE]
        assert remaining >= 0
        assert self.quantity == remaining + len(live)
        assert sorted((r.code, r.status) for r in live) == sorted(tuple(v) for v in self.model.values())
        assert sum(1 for r in rows if r.status == rules.RETURNED) == self.returned
        assert len({r.person_id for r in live}) == len(live)


def test_voucher_lifecycle_keeps_the_stock(app):
    VoucherLifecycle.world = _setup_world()
    run_state_machine_as_test(VoucherLifecycle, settings=settings(
        max_examples=40, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    total = db.session.execute(select(func.count(Voucher.id))).scalar()
    db.session.commit()
    assert total > 0
