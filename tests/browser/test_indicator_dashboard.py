"""The map coloured by any indicator, and the three streams' headline numbers, in headless Chromium.

The data set (tests/browser/stream_seed.py) goes through the real push APIs; the expected figures
are worked out by hand there and checked against the indicators API here. What is asserted is
what the page rendered: the legend's text, the headline's text, and the fill colour the provinces
layer deck.gl is drawing gives each province (``iocDashboard.provinceFills()``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from selenium.webdriver.support.ui import Select

from ioc.auth.scope import Scope
from tests.auth_support import access_token, bearer, create_user
from tests.browser.pages import console, eventually, sign_in, text_of, wait_until_ready
from tests.browser.stream_seed import PAYOUT_INGEST, payout_record, post, seed_streams
from tests.conftest import LiveServer
from tests.integration.ingest_support import HANOI_WARD

pytestmark = pytest.mark.browser

# Colours of frontend/static/indicators.js (worse → better) and format.js.
WORST, BEST = [215, 48, 39, 235], [26, 152, 80, 235]
NO_DATA = [120, 128, 140, 235]
OUT_OF_SCOPE = [48, 58, 72, 235]
HANOI = Scope.from_dict({"provinces": ["01"]})


def percent_vi(rate: float) -> str:
    """As the page writes a share: one decimal, decimal comma, a space before the sign."""
    return f"{rate * 100:.1f}".replace(".", ",") + " %"


def fills(browser: Any) -> dict[str, list[int]]:
    return dict(browser.execute_script("return window.iocDashboard.provinceFills()"))


def headline(browser: Any) -> dict[str, str]:
    ids = [
        "hl-dossier-received-today", "hl-payout-completion", "hl-payout-cashless", "hl-payout-completion-note",
        "hl-payout-cashless-note", "hl-id-cccd", "hl-id-cccd-note", "hl-id-l2", "hl-id-l2-note",
    ]  # fmt: skip
    return {i: text_of(browser, i) for i in ids}


def choose(browser: Any, code: str) -> None:
    """Pick an indicator in the legend's selector, as a person would."""
    Select(browser.find_element("id", "indicator-select")).select_by_value(code)


def map_indicator(browser: Any) -> str:
    return str(browser.execute_script("return document.getElementById('map').dataset.indicator"))


def current(server: LiveServer, token: str | None = None) -> dict[str, dict[str, float | None]]:
    """GET /api/v1/indicators/current?level=province: province code → indicator values."""
    with server.client(token) as client:
        response = client.get("/api/v1/indicators/current", params={"level": "province"})
    assert response.status_code == 200, response.text
    return {row["code"]: row["values"] for row in response.json()["localities"]}


def received_today(server: LiveServer, token: str | None = None) -> int:
    with server.client(token) as client:
        response = client.get("/api/v1/status/provinces", params={"window": "today"})
    assert response.status_code == 200, response.text
    return sum(int(p["received"]) for p in response.json()["provinces"])


@pytest.fixture(scope="module")
def seeded(module_live_server: LiveServer) -> LiveServer:
    seed_streams(module_live_server)
    return module_live_server


NATIONAL_USER = "chi-so-toan-quoc"


@pytest.fixture(scope="module")
def national_user(seeded: LiveServer) -> str:
    create_user(seeded.db_url, NATIONAL_USER, "operator")
    return NATIONAL_USER


@pytest.fixture()
def dashboard(browser: Any, seeded: LiveServer, national_user: str) -> Any:
    """The page, signed in as a national operator (again, if another test signed in as someone else)."""
    browser.get(seeded.url + "/")
    who = "return (window.iocDashboard && window.iocDashboard.state.identity || {}).subject || null"
    # Signed in as somebody already (the page says who), or sent to the sign-in page.
    eventually(lambda: "/login" in browser.current_url or browser.execute_script(who))
    if "/login" in browser.current_url or browser.execute_script(who) != f"user:{national_user}":
        sign_in(browser, seeded.url, national_user)
    wait_until_ready(browser)
    assert eventually(lambda: browser.find_elements("css selector", "#indicator-select option[value='cccd_coverage']"))
    return browser


# --------------------------------------------------------------------------- headline numbers


def test_national_headline_matches_the_api(dashboard: Any, seeded: LiveServer) -> None:
    values = current(seeded)
    hanoi, hcmc = values["01"], values["79"]
    # Each province's own figures, as the API computes them (see stream_seed for the data).
    assert (hanoi["payout_completion"], hcmc["payout_completion"]) == (0.6, 0.9)
    assert (hanoi["payout_cashless_share"], hcmc["payout_cashless_share"]) == (0.7, 0.9)
    assert hanoi["cccd_coverage"] == pytest.approx(0.98) and hcmc["cccd_coverage"] == pytest.approx(0.94)
    assert (hanoi["vneid_l2_activation"], hcmc["vneid_l2_activation"]) == (None, 0.8)
    assert received_today(seeded) == 5
    # Nationally: completion (600 + 900) / (1.000 + 1.000) = 75 %; cashless (420 + 810) / 1.500 = 82 %;
    # CCCD 1.900.800 / 2.020.000 = 94,099 %; level 2 only where there is a target: 960.000 / 1.200.000.
    expected = {
        "hl-dossier-received-today": "5",
        "hl-payout-completion": percent_vi((600 + 900) / (1000 + 1000)),
        "hl-payout-cashless": percent_vi((420 + 810) / 1500),
        "hl-id-cccd": percent_vi((1_851_800 + 49_000) / (1_970_000 + 50_000)),
        "hl-id-l2": percent_vi(960_000 / 1_200_000),
    }
    assert expected == {
        "hl-dossier-received-today": "5", "hl-payout-completion": "75,0 %", "hl-payout-cashless": "82,0 %",
        "hl-id-cccd": "94,1 %", "hl-id-l2": "80,0 %",
    }  # fmt: skip
    assert eventually(lambda: {k: v for k, v in headline(dashboard).items() if k in expected} == expected), headline(
        dashboard
    )
    shown = headline(dashboard)
    assert shown["hl-payout-completion-note"].startswith("1.500/2.000 đối tượng · hạn ")
    assert shown["hl-payout-cashless-note"] == "mục tiêu 70,0 %"
    assert shown["hl-id-cccd-note"].startswith("mục tiêu 95,0 % · hạn ")
    assert shown["hl-id-l2-note"].startswith("960.000/1.200.000 tài khoản · hạn ")
    assert "kỳ " in text_of(dashboard, "hl-payout-cycle")


def test_province_leader_headline_is_the_province_indicators(browser: Any, seeded: LiveServer) -> None:
    user_id = create_user(seeded.db_url, "lanh-dao-chi-so-ha-noi", "leader", HANOI)
    token = access_token(seeded.db_url, user_id)
    values = current(seeded, token)
    assert list(values) == ["01"]  # the API answers for the leader's province only
    sign_in(browser, seeded.url, "lanh-dao-chi-so-ha-noi")
    expected = {
        "hl-dossier-received-today": str(received_today(seeded, token)),
        "hl-payout-completion": percent_vi(values["01"]["payout_completion"] or 0),
        "hl-payout-cashless": percent_vi(values["01"]["payout_cashless_share"] or 0),
        "hl-id-cccd": percent_vi(values["01"]["cccd_coverage"] or 0),
        # Ba Đình reported level-2 activations but Hà Nội has no target for them.
        "hl-id-l2": "chưa có chỉ tiêu",
    }
    assert expected["hl-dossier-received-today"] == "3" and expected["hl-id-cccd"] == "98,0 %"
    assert eventually(lambda: {k: v for k, v in headline(browser).items() if k in expected} == expected), headline(
        browser
    )
    # Out-of-scope provinces are drawn dimmed, whatever the indicator.
    choose(browser, "payout_completion")
    assert eventually(lambda: fills(browser).get("79") == OUT_OF_SCOPE), fills(browser).get("79")
    assert "Ngoài phạm vi được giao" in text_of(browser, "legend-items")


# --------------------------------------------------------------------------- the map


def test_switching_the_indicator_recolours_the_map(dashboard: Any) -> None:
    assert map_indicator(dashboard) == "live:on_time_rate"
    assert text_of(dashboard, "legend-title") == "Tỉ lệ giải quyết đúng hạn"
    # No dossier has been resolved yet: the live on-time rate has nothing to colour.
    assert fills(dashboard)["01"] == NO_DATA

    # Payout completion, higher is better: Hà Nội 60 % is the worst class, Hồ Chí Minh 90 % the best.
    choose(dashboard, "payout_completion")
    assert eventually(lambda: fills(dashboard)["01"] == WORST), fills(dashboard)["01"]
    shown = fills(dashboard)
    assert shown["79"] == BEST
    assert {code for code, colour in shown.items() if colour == NO_DATA} == set(shown) - {"01", "79"}
    assert map_indicator(dashboard) == "payout_completion"
    assert text_of(dashboard, "legend-title") == "Tỷ lệ chi trả đúng hạn kỳ"
    assert text_of(dashboard, "legend-direction") == "Cao hơn là tốt hơn ↑"
    assert text_of(dashboard, "legend-target") == "Mục tiêu: 100,0 %"
    legend = text_of(dashboard, "legend-items")
    assert "84,0 % – 90,0 %" in legend and "60,0 % – 66,0 %" in legend and "Chưa có dữ liệu" in legend

    # CCCD coverage turns it round: Hà Nội (Ba Đình) 98 % is the best, Hồ Chí Minh 94 % the worst.
    choose(dashboard, "cccd_coverage")
    assert eventually(lambda: fills(dashboard)["01"] == BEST), fills(dashboard)["01"]
    assert fills(dashboard)["79"] == WORST
    assert text_of(dashboard, "legend-title") == "Tỷ lệ cấp CCCD gắn chíp"

    # A count where lower is better: the legend says so, in the indicator's unit.
    choose(dashboard, "overdue_count")
    assert eventually(lambda: text_of(dashboard, "legend-direction") == "Thấp hơn là tốt hơn ↓")
    assert text_of(dashboard, "legend-title") == "Số hồ sơ quá hạn"
    assert eventually(lambda: fills(dashboard)["01"] == BEST)  # nothing overdue anywhere: one class, the best

    # Back to the live on-time rate: the fixed bands again.
    choose(dashboard, "live:on_time_rate")
    assert eventually(lambda: fills(dashboard)["01"] == NO_DATA)
    assert "≥ 95 %" in text_of(dashboard, "legend-items")


def test_tooltip_names_the_indicator_value(dashboard: Any) -> None:
    choose(dashboard, "payout_cashless_share")
    assert eventually(lambda: fills(dashboard)["79"] == BEST)
    # Hover over Hồ Chí Minh City's label point: what deck.gl picks there, and its tooltip.
    html = dashboard.execute_script("""
        const deck = window.iocDashboard.deck;
        const labels = deck.props.layers.find((l) => l.id === 'province-labels').props.data;
        const row = labels.find((r) => r.code === '79');
        const [x, y] = deck.getViewports()[0].project([row.lon, row.lat]);
        const info = deck.pickObject({x, y, layerIds: ['provinces']});
        return info ? deck.props.getTooltip({object: info.object, layer: info.layer}).html : null;""")
    assert html is not None and "Hồ Chí Minh" in html
    assert "<td>Tỷ lệ chi trả không dùng tiền mặt</td><td>90,0 %</td>" in html


def test_page_keeps_working_without_the_indicators_api(dashboard: Any, seeded: LiveServer) -> None:
    dashboard.execute_cdp_cmd("Network.enable", {})
    dashboard.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/v1/indicators*"]})
    try:
        dashboard.get(seeded.url + "/")
        wait_until_ready(dashboard)
        assert eventually(lambda: dashboard.execute_script(
            "return document.getElementById('map').dataset.indicatorStatus") == "error")  # fmt: skip
        options = dashboard.execute_script(
            "return Array.from(document.querySelectorAll('#indicator-select option'), o => o.value)"
        )
        assert options == ["live:on_time_rate"]
        assert "Không tải được chỉ số" in text_of(dashboard, "legend-status")
        # The live parts are untouched: the map, and the headline pushed over the WebSocket.
        assert len(dashboard.execute_script("return window.iocDashboard.renderedProvinceCodes()")) == 34
        assert eventually(lambda: text_of(dashboard, "hl-payout-completion") == "75,0 %")
    finally:
        dashboard.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        console(dashboard)


# --------------------------------------------------------------------------- no data, then live data


def test_streams_without_data_say_so_then_update_live(browser: Any, live_server: LiveServer) -> None:
    """A fresh server: nothing reported for payouts or ID issuance; then a report arrives."""
    create_user(live_server.db_url, "chi-so-moi", "operator")
    sign_in(browser, live_server.url, "chi-so-moi")
    assert eventually(lambda: browser.find_elements("css selector", "#indicator-select option[value='cccd_coverage']"))
    shown = headline(browser)
    for figure in ("hl-payout-completion", "hl-payout-cashless", "hl-id-cccd", "hl-id-l2"):
        assert shown[figure] == "chưa có dữ liệu", (figure, shown)
    assert shown["hl-dossier-received-today"] == "0"
    choose(browser, "payout_completion")
    assert eventually(lambda: text_of(browser, "legend-status") == "Chỉ số này chưa có dữ liệu.")
    assert set(map(tuple, fills(browser).values())) == {tuple(NO_DATA)}

    # A payout report for Ba Đình arrives: the headline (pushed) and the map (re-read after the
    # live feed reports the change) follow without a reload.
    post(live_server, PAYOUT_INGEST, [payout_record("bd-1", HANOI_WARD, "nguoi_co_cong", 200, 150, 120)])
    assert eventually(lambda: text_of(browser, "hl-payout-completion") == "75,0 %", 15), headline(browser)
    assert text_of(browser, "hl-payout-cashless") == "80,0 %"  # 120 / 150
    # One province with a value: nothing to rank it against, so it is measured against the
    # indicator's 100 % target, which 75 % misses.
    assert eventually(lambda: fills(browser)["01"] == WORST, 15), fills(browser)["01"]
    assert text_of(browser, "legend-items").startswith("75,0 %")
    errors = [e for e in console(browser) if e["level"] == "SEVERE"]
    assert errors == [], errors


def test_indicator_api_answers_the_seeded_fixture_for_a_scope_with_bearer(seeded: LiveServer) -> None:
    """The same numbers through plain HTTP with a bearer token (what the page's fetch gets)."""
    user_id = create_user(seeded.db_url, "chi-so-api", "subscriber", HANOI)
    with httpx.Client(base_url=seeded.url, headers=bearer(access_token(seeded.db_url, user_id))) as client:
        body = client.get("/api/v1/indicators/current", params={"level": "province"}).json()
    assert [row["code"] for row in body["localities"]] == ["01"]
    assert body["localities"][0]["values"]["payout_completion"] == 0.6
