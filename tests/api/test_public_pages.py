"""The public side: the publicity (公示) list in the API and as a page, the certificate lookup, the favicon,
the owner's view of a revoked certificate, and the server clock header the clients read windows against."""
from __future__ import annotations

from datetime import datetime

from tests.api import outcomes_fixtures as fx
from tests.api.outcomes_fixtures import API, error, sh

app_config, world = fx.app_config, fx.world  # shared fixtures


def _approved_claim(client, clock, w) -> int:
    from tests.api.outcomes_fixtures import complete_and_approve
    claim_id = complete_and_approve(client, clock, w)["subsidy_claim_id"]
    clock.set(sh(2026, 3, 5, 11))
    r = client.post(f"{API}/subsidy-claims/{claim_id}/approve", headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    return claim_id


def test_publicity_lists_claims_in_their_period_with_masked_names(client, clock, world):
    w = world
    r = client.get(f"{API}/publicity")
    assert r.status_code == 200 and r.get_json() == [] and r.headers["X-Total-Count"] == "0"
    claim_id = _approved_claim(client, clock, w)

    r = client.get(f"{API}/publicity?region_code=350100")  # anyone, no token; 350100 scopes like 3501
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "1"
    [item] = r.get_json()
    assert item["claim_id"] == claim_id and item["institution"] == w.inst.name and item["total_fen"] == 86000
    assert (item["starts_on"], item["ends_on"]) == ("2026-03-05", "2026-03-12")
    assert sorted(line["amount_fen"] for line in item["lines"]) == [20000, 30000, 36000]
    names = {line["name_masked"] for line in item["lines"]}
    assert "张*" in names and all("*" in n for n in names)
    assert "张三" not in r.get_data(as_text=True)
    assert client.get(f"{API}/publicity?region_code=3502").get_json() == []

    r = client.get(f"{API}/publicity?region_code=35x")
    assert r.status_code == 422 and error(r) == "validation_error"

    # The page: amounts in yuan, masked names, no full name.
    page = client.get("/publicity/?region_code=3501")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "300.00 元" in text and "860.00 元" in text and "张*" in text
    assert "张三" not in text and "2026-03-05 至 2026-03-12" in text
    bad = client.get("/publicity/?region_code=abc")
    assert bad.status_code == 422 and "地区代码应为" in bad.get_data(as_text=True)

    # After the publicity period the claim is no longer listed.
    clock.set(sh(2026, 3, 13, 0))
    assert client.get(f"{API}/publicity").get_json() == []
    assert "当前没有正在公示" in client.get("/publicity/").get_data(as_text=True)


def test_certificate_lookup_form_and_owner_sees_revocation(client, clock, world):
    w = world
    from tests.api.outcomes_fixtures import complete_and_approve
    complete_and_approve(client, clock, w)
    cert = client.get(f"{API}/me/certificates", headers=w.a_h).get_json()[0]
    assert cert["valid"] is True and cert["revoked_on"] is None and cert["revoked_reason"] is None

    for path in ("/", "/certificates/"):
        page = client.get(path)
        assert page.status_code == 200 and 'id="certificate-lookup"' in page.get_data(as_text=True), path
    typed = f"{cert['number'][:6]} {cert['number'][6:]}".lower()  # spaces and a lower-case x are fine
    r = client.get("/certificates/", query_string={"number": typed})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/certificates/{cert['number']}")
    r = client.get("/certificates/", query_string={"number": "12345"})
    assert r.status_code == 422 and "证书编号格式不正确" in r.get_data(as_text=True)

    clock.set(sh(2026, 3, 6, 9))
    r = client.post(f"{API}/certificates/{cert['number']}/revoke", json={"reason": "考勤造假"}, headers=w.sup1_h)
    assert r.status_code == 200, r.get_json()
    mine = client.get(f"{API}/me/certificates", headers=w.a_h).get_json()[0]
    assert (mine["valid"], mine["revoked_on"], mine["revoked_reason"]) == (False, "2026-03-06", "考勤造假")
    archived = client.get(f"{API}/me/archive", headers=w.a_h).get_json()["plans"][0]["certificate"]
    assert archived["valid"] is False and archived["revoked_reason"] == "考勤造假"
    public = client.get(f"/certificates/{cert['number']}").get_data(as_text=True)
    assert "已撤销" in public and "撤销日期：2026-03-06" in public and "考勤造假" not in public


def test_favicon_and_server_time_header(client, clock):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.mimetype == "image/x-icon" and r.data[:4] == b"\x00\x00\x01\x00"
    r.close()
    clock.set(sh(2026, 3, 5, 11))
    r = client.get(f"{API}/publicity")
    assert datetime.fromisoformat(r.headers["X-Server-Time"]) == sh(2026, 3, 5, 11)
