"""The pure client modules, run in the browser as the pages load them: escaping, formatting, the
ID-number check and the fence plot's geometry."""
from __future__ import annotations

import json

import pytest

from .helpers import PHONE, new_context

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(browser, server):
    ctx = new_context(browser, PHONE)
    p = ctx.new_page()
    p.goto(f"{server.url}/m/#/login")
    yield p
    ctx.close()


def run(page, body: str):
    """Evaluate an async function body with the shared modules imported."""
    return page.evaluate(f"""async () => {{
        const h = await import('/static/common/html.js');
        const f = await import('/static/common/format.js');
        const c = await import('/static/common/charts.js');
        const id = await import('/m/lib/idcard.js');
        {body}
    }}""")


def test_templates_escape_data(page):
    out = run(page, """
        const name = '<img src=x onerror="alert(1)">&';
        return [String(h.html`<b>${name}</b>`), String(h.html`<i>${h.html`<u>${'<'}</u>`}</i>`),
                String(h.html`${['<a>', 1, null, false]}`)];""")
    assert out == ["<b>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;</b>", "<i><u>&lt;</u></i>", "&lt;a&gt;1"]


def test_formatting(page):
    out = run(page, """return [f.fmtMoney(150000), f.fmtMoney(5), f.fmtMoney(-123456), f.fmtMetres(23.4),
        f.fmtMetres(1113), f.fmtTime('2026-03-10T01:05:00+00:00'), f.fmtDate('2026-03-10'),
        f.provinceName('350102'), f.label(f.VOUCHER_STATUS, 'claimed'), f.label(f.VOUCHER_STATUS, 'new_state'),
        f.fieldErrors({details: {fields: {name: ['Missing data for required field.']}}})];""")
    assert out == ["¥1,500.00", "¥0.05", "-¥1,234.56", "23 米", "1.1 公里", "09:05", "2026-03-10", "福建",
                   "已领取", "new_state", {"name": "必填"}]


def test_id_number_check(page, server):
    good = server.seeded.trainee_id_number
    out = run(page, f"""return [id.idNumberProblem('{good}'), id.idNumberProblem('{good[:-1]}'),
        id.idNumberProblem('{good[:-1] + ("0" if good[-1] != "0" else "1")}'),
        id.idNumberProblem('35010219990231123X'), id.phoneProblem('13800000000'), id.phoneProblem('1380000')];""")
    assert out[0] == "" and "18 位" in out[1] and "校验位" in out[2] and "出生日期" in out[3]
    assert out[4] == "" and out[5]


def test_fence_plot_geometry(page):
    out = run(page, """
        const site = {lat: 26.0785, lon: 119.2965, radius_m: 200};
        const p = c.fromLocal(site, 30, -40);
        const back = c.toLocal(site, p);
        const plot = c.fencePlot(site, [
          {lat: p.lat, lon: p.lon, accepted: true, kind: 'check_in', label: 'in'},
          {...c.fromLocal(site, 0, 5000), accepted: false, kind: 'check_in', label: 'far'}]);
        const svg = String(plot.svg);
        return [Math.round(back.x), Math.round(back.y), svg.includes('plot-in'), svg.includes('5.0km'),
                plot.metresPerUnit * (plot.size / 2 - 14)];""")
    x, y, inside, far_label, span = out
    assert (x, y) == (30, -40) and inside and far_label
    assert span == pytest.approx(800)  # the view stops at four radii; the far fix is an arrow on the edge


def test_trust_flag_labels_match_the_server(page):
    """The pages' one map of trust flag labels says what backend/domain/trust.py says."""
    from backend.domain.trust import FLAG_LABELS, INFORMATIONAL
    out = run(page, """return [f.TRUST_FLAGS, [...f.INFORMATIONAL_FLAGS], f.label(f.FLAGS, 'held'),
        f.label(f.FLAGS, 'kiosk_burst'), f.isBlockingFlag('gps_only'), f.isBlockingFlag('kiosk_burst'),
        f.isBlockingFlag('late')];""")
    labels, informational, held, burst, gps_blocks, burst_blocks, late_blocks = out
    assert labels == FLAG_LABELS and set(informational) == set(INFORMATIONAL)
    assert held == "学时暂扣" and burst == FLAG_LABELS["kiosk_burst"]
    assert (gps_blocks, burst_blocks, late_blocks) == (False, True, False)


@pytest.mark.parametrize(("code", "shown"), [
    ("350102", "福建 福州市 鼓楼区（350102）"), ("3501", "福建 福州市（3501）"), ("350100", "福建 福州市（350100）"),
    ("35", "福建（35）"), ("350000", "福建（350000）"), ("359901", "福建（359901）"), ("110105", "北京（110105）"),
    ("", "全国"), (None, "全国"), ("990000", "990000"),
])
def test_region_names_keep_the_code(page, code, shown):
    assert run(page, f"return f.regionName({json.dumps(code)});") == shown


# (status, Retry-After, attempt, retry options) -> the wait in ms with no jitter (random() = 0) and with the
# most (random() = 1), or None: give up and show the error.
_NET = {"attempts": 4, "network": True}
_RETRY_TABLE = [
    ((503, 2, 1, _NET), (2000, 3000)),          # the server's busy answer: its Retry-After plus a share
    ((503, 2, 3, _NET), (2000, 3000)),          # the last retry of four tries
    ((503, 2, 4, _NET), None),                  # four tries made: the person decides
    ((503, 10, 1, _NET), (10000, 15000)),       # the longest wait the page takes on its own
    ((503, 11, 1, _NET), None),                 # longer: said, not waited out
    ((429, 3, 1, _NET), (3000, 4500)),          # rate limited with a short window left
    ((429, 60, 1, _NET), None),                 # the minute's limit: not retried behind the person's back
    ((429, None, 1, _NET), None),               # no Retry-After on a 429: nothing to go by
    ((503, None, 1, _NET), (1000, 1500)),       # busy without Retry-After (a proxy's 503): back off
    ((503, None, 2, _NET), (2000, 3000)),
    ((502, None, 1, _NET), (1000, 1500)),       # a proxy could not reach the server
    ((504, None, 3, _NET), (4000, 6000)),
    ((0, None, 1, _NET), (1000, 1500)),         # the network failed: the request may have arrived
    ((0, None, 1, {"attempts": 4}), None),      # ... so only for requests marked safe to repeat that way
    ((500, None, 1, _NET), None),               # a server error is not a busy server
    ((422, None, 1, _NET), None),               # a refusal is an answer
    ((409, None, 1, _NET), None),
    ((503, 2, 1, None), None),                  # a request not marked `retry` is never repeated
    ((503, 2, 1, {}), (2000, 3000)),            # marked, default three tries
    ((503, 2, 3, {}), None),
]


@pytest.mark.parametrize(("case", "expected"), _RETRY_TABLE)
def test_when_a_request_is_sent_again(page, case, expected):
    """api.js retryDelayMs: which failures a marked request rides out on its own, and how long it waits."""
    status, retry_after, attempt, retry = case
    out = page.evaluate("""async ([status, retryAfter, attempt, retry]) => {
        const a = await import('/static/common/api.js');
        const err = new a.ApiError(status, status ? 'x' : 'network', 'm', {}, retryAfter);
        return [a.retryDelayMs(err, attempt, retry, () => 0), a.retryDelayMs(err, attempt, retry, () => 1),
                a.retryDelayMs(new Error('not an ApiError'), attempt, retry, () => 0)];
    }""", [status, retry_after, attempt, retry])
    low, high, plain = out
    assert plain is None
    assert (None if low is None else (low, high)) == expected


@pytest.mark.parametrize(("seconds", "words"), [
    (1, "约 1 秒后"), (89, "约 89 秒后"), (90, "约 2 分钟后"), (120, "约 2 分钟后"), (3600, "约 60 分钟后"),
    (0, "稍等片刻后"), (None, "稍等片刻后"),
])
def test_how_long_the_person_is_asked_to_wait(page, seconds, words):
    """The trainee page's words for a Retry-After it does not wait out itself."""
    out = page.evaluate("async (s) => (await import('/m/pages/lessons.js')).waitWords(s)", seconds)
    assert out == words
