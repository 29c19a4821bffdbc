"""The error codes the OpenAPI document lists per operation (backend/api/error_catalogue.py) are complete."""
from __future__ import annotations

import pytest

from backend import errors
from backend.api import error_catalogue as catalogue
from backend.domain.messages import MESSAGES

# Codes with a message that no operation lists, and why.
EXEMPT = {
    "internal_error": "the answer to an unexpected exception; the fuzzing (test_openapi_fuzz.py) proves none happens",
    "method_not_allowed": "a method the path does not serve is no operation of the document",
    "service_busy": "503 with Retry-After when the database did not take a request in time (errors.py); any "
                    "operation may meet it, so it is one rule in API docs, not a line per operation",
    "conflict": "a unique-constraint race on insert (errors.py); every insert is checked first and answers its own code",
}


# Readiness probes answer 503 with their own small body, for load balancers rather than API clients.
PROBES = {"/api/v1/readyz", "/readyz"}


def _documented(spec: dict) -> dict[str, set[tuple[str, str, str]]]:
    """code -> {(method, path, status)} over every error response of the document."""
    out: dict[str, set] = {}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status, response in op.get("responses", {}).items():
                if not status.startswith(("4", "5")) or path in PROBES:
                    continue
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                for code in schema["properties"]["error"]["properties"]["code"]["enum"]:
                    out.setdefault(code, set()).add((method.upper(), path, status))
    return out


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    """The served document (built once: no database is touched)."""
    from backend import create_app
    from tests.conftest import TEST_KEYS
    path = tmp_path_factory.mktemp("spec") / "unused.db"
    app = create_app(dict(TEST_KEYS, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", TESTING=True))
    with app.app_context():
        return app.test_client().get("/api/v1/openapi.json").get_json()


def test_every_error_response_lists_its_codes(spec):
    """Each 4xx/5xx response carries the error shape with `code` as an enum (no free-form string)."""
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")) and path not in PROBES:
                    code = response["content"]["application/json"]["schema"]["properties"]["error"]["properties"]["code"]
                    assert code["enum"], (method, path, status)


def test_every_raised_code_is_documented_on_some_operation(spec):
    """A code some backend function raises (or an error handler answers) is on at least one operation."""
    raised = set(catalogue.analyzer().all_codes()) | set(errors._HTTP_CODES.values()) | {"internal_error", "conflict", "service_busy"}
    documented = _documented(spec)
    missing = sorted(c for c in raised & set(MESSAGES) if c not in documented and c not in EXEMPT)
    assert missing == []
    assert sorted(c for c in EXEMPT if c in documented) == []  # an exemption that went stale


def test_every_documented_code_has_a_message(spec):
    assert sorted(set(_documented(spec)) - set(MESSAGES)) == []


def test_the_analysis_reads_every_error_site():
    """A code or status computed at run time needs an entry in SITE_OVERRIDES / RETURN_OVERRIDES; an entry
    whose site the analysis can now read (or that is gone) must go."""
    a = catalogue.Analyzer(catalogue.SITE_OVERRIDES, catalogue.RETURN_OVERRIDES)
    a.all_codes()
    assert a.unresolved == {}
    assert a.overridden == set(catalogue.SITE_OVERRIDES)
    for key in catalogue.RETURN_OVERRIDES:
        values, complete = a.returns(key, overrides=False)
        assert not complete, f"{key}: the analysis reads its return values ({sorted(values)}); drop the override"


def test_kiosk_receipt_reasons_are_read_completely(spec):
    a = catalogue.analyzer()
    for key, index in catalogue.KIOSK_REASON_SOURCES:
        values, complete = a.returns(key, index)
        assert values and complete, key
    receipt = spec["paths"]["/api/v1/device/events"]["post"]["responses"]["200"]["content"]["application/json"]
    reason = receipt["schema"]["properties"]["results"]["items"]["properties"]["reason"]
    assert {"invalid_event", "unknown_person", "face_mismatch", "evidence_missing", "outside_time_window"} <= set(reason["enum"])


@pytest.mark.parametrize("method, path, status, code", [
    # The codes API.md names for these operations, and the common ones (issue 13: the document said only
    # validation_error for every 422 while the API answered idempotency_key_reused, invalid_region_code, ...).
    ("POST", "/api/v1/users", "422", "idempotency_key_reused"),
    ("POST", "/api/v1/users", "409", "request_in_progress"),
    ("POST", "/api/v1/users", "422", "invalid_region_code"),
    ("POST", "/api/v1/institutions", "422", "invalid_credit_code"),
    ("POST", "/api/v1/voucher-batches/{batch_id}/claims", "409", "sold_out"),
    ("POST", "/api/v1/voucher-batches/{batch_id}/claims", "409", "already_claimed"),
    ("POST", "/api/v1/voucher-batches/{batch_id}/claims", "403", "not_eligible"),
    ("POST", "/api/v1/voucher-batches/{batch_id}/claims", "429", "rate_limited"),
    ("POST", "/api/v1/me/identity", "409", "verification_required"),
    ("POST", "/api/v1/me/identity", "503", "identity_provider_unavailable"),
    ("POST", "/api/v1/attendance", "422", "out_of_fence"),
    ("POST", "/api/v1/attendance", "409", "already_checked_in"),
    ("POST", "/api/v1/plans/{plan_id}/enrollments", "422", "voucher_token_required"),
    ("POST", "/api/v1/plans/{plan_id}/enrollments", "422", "expired"),
    ("POST", "/api/v1/subsidy-claims/{claim_id}/disburse", "409", "publicity_period"),
    ("GET", "/api/v1/device/manifest", "422", "date_out_of_range"),
    ("GET", "/api/v1/device/manifest", "403", "device_not_active"),
    ("GET", "/api/v1/device/manifest", "401", "unauthorized"),
    ("POST", "/api/v1/auth/login", "429", "rate_limited"),
    ("GET", "/api/v1/plans/{plan_id}", "404", "not_found"),
    ("GET", "/api/v1/plans/{plan_id}", "403", "forbidden"),
    ("POST", "/api/v1/sites", "413", "payload_too_large"),
])
def test_contract_codes_are_listed(spec, method, path, status, code):
    assert (method, path, status) in _documented(spec).get(code, set())


def test_public_operations_list_no_authentication_errors(spec):
    op = spec["paths"]["/api/v1/certificates/{number}"]["get"]
    assert "401" not in op["responses"] and "403" not in op["responses"]
