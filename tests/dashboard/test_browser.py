"""The dashboard with the demo data, rendered in Debian's Chromium, with no request leaving the site."""

import pytest

from config.demo import seed_demo_consortium
from config.demo_data import DEMO_PASSWORD
from dashboard.charts import CHARTS
from tests.live import ARTIFACTS, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: Every chart of the dashboard is drawn (diagnostics, chronic care and the county rates add theirs).
ALL_DRAWN = f'body[data-charts-ready="{len(CHARTS)}"]'


def _offline(page, live_url):
    """Fail any request that is not to the live server: the site must work with no internet."""
    escaped = []

    def guard(route):
        if route.request.url.startswith(live_url):
            route.continue_()
        else:
            escaped.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    return escaped


def test_demo_dashboard_draws_every_chart_offline(page, live_server):
    seed_demo_consortium()
    escaped = _offline(page, live_server.url)
    browser_login(page, "consortium_admin", DEMO_PASSWORD)
    page.goto("/dashboard/")
    page.wait_for_selector(ALL_DRAWN)
    assert page.locator("[data-drawn=true]").count() == len(CHARTS)
    assert page.locator("h1").inner_text() == "城乡均衡监测看板"
    # The primary-level visit chart has real points from the demo data.
    painted = page.evaluate(
        """() => { const c = document.querySelector('#chart-primary-visits canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; }"""
    )
    assert painted > 1000
    assert (
        page.evaluate("() => Chart.getChart(document.querySelector('#chart-primary-visits canvas')).data.datasets[0].data")[-1]
        > 0
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-demo.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("#chart-referrals a[download]").click()
    assert download.value.suggested_filename.startswith("referrals-consortium-")

    page.select_option("#language-select", "en")
    page.wait_for_selector(ALL_DRAWN)
    assert page.locator("h1").inner_text() == "Equalization dashboard"
    page.screenshot(path=str(ARTIFACTS / "dashboard-demo-en.png"), full_page=True)
    assert escaped == []


def test_demo_township_doctor_sees_the_warnings_of_the_clinic(page, live_server):
    seed_demo_consortium()
    escaped = _offline(page, live_server.url)
    browser_login(page, "mingfeng_doctor", DEMO_PASSWORD)
    page.get_by_role("link", name="医疗支出预警").click()
    page.wait_for_selector("table")
    assert "超过家庭收入比例" in page.locator("table").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-warnings-demo.png"), full_page=True)
    assert escaped == []
