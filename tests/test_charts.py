"""Chart builders (specs, not pixels), the offline renderer and save_chart."""

from __future__ import annotations

import json
from decimal import Decimal
from html.parser import HTMLParser

import altair as alt
import pandas as pd
import pytest

from aifinops import charts
from aifinops.errors import MissingColumnError


def _rows(chart) -> list[dict]:
    spec = chart.to_dict()
    (data,) = spec["datasets"].values()
    return data


@pytest.fixture
def ledgerish() -> pd.DataFrame:
    return pd.DataFrame({
        "ChargePeriodStart": pd.to_datetime(["2025-06-01T01:00Z", "2025-06-01T23:00Z", "2025-06-02T00:00Z",
                                             "2025-06-02T00:00Z", "2025-06-03T00:00Z"]),
        "ProviderName": ["AWS", "AWS", "AWS", "OpenAI", "Azure"],
        "ServiceName": ["EC2", "S3", "EC2", "GPT", "VM"],
        "x_Team": ["ml", None, " ", "web", "ml"],
        "x_BillingPeriod": ["2025-06"] * 5,
        "BilledCost": [Decimal("0.1"), Decimal("0.2"), Decimal("1.000000000000000001"), Decimal("5"), Decimal("7")],
        "BillingCurrency": ["USD", "USD", "USD", "USD", "EUR"],
    })


def test_daily_cost_sums_per_utc_day_and_provider(ledgerish):
    usd = ledgerish[ledgerish.BillingCurrency == "USD"]
    chart = charts.daily_cost_by_provider(usd)
    rows = {(r["Day"], r["Provider"]): r["Cost"] for r in _rows(chart)}
    # 0.1 + 0.2 summed exactly (as Decimal), not 0.30000000000000004
    assert rows == {("2025-06-01", "AWS"): 0.3, ("2025-06-02", "AWS"): 1.0, ("2025-06-02", "OpenAI"): 5.0}
    spec = chart.to_dict()
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["y"]["title"] == "Cost (USD)"
    assert spec["title"] == "Daily cost by provider"


def test_several_currencies_get_one_panel_each_never_summed(ledgerish):
    spec = charts.daily_cost_by_provider(ledgerish).to_dict()
    assert spec["facet"]["row"]["field"] == "Currency"
    assert spec["resolve"]["scale"]["y"] == "independent"
    data = next(iter(spec["datasets"].values()))
    assert {r["Currency"] for r in data} == {"USD", "EUR"}
    assert [r["Cost"] for r in data if r["Currency"] == "EUR"] == [7.0]


def test_team_stack_keeps_unattributed(ledgerish):
    rows = _rows(charts.cost_by_team_stacked(ledgerish[ledgerish.BillingCurrency == "USD"]))
    by_team = {r["Team"]: r["Cost"] for r in rows}
    assert by_team == {"(unattributed)": pytest.approx(1.2), "ml": 0.1, "web": 5.0}
    assert sum(by_team.values()) == pytest.approx(6.3)


def test_top_services_keeps_the_rest_as_one_bar(ledgerish):
    usd = ledgerish[ledgerish.BillingCurrency == "USD"]
    chart = charts.top_services_bar(usd, n=1)
    rows = _rows(chart)
    assert [(r["Service"], r["Cost"]) for r in rows] == [("GPT", 5.0), ("(2 other services)", pytest.approx(1.3))]
    assert chart.to_dict()["encoding"]["y"]["sort"] == {"field": "Rank", "order": "ascending"}
    with pytest.raises(ValueError):
        charts.top_services_bar(usd, n=0)


def test_missing_column_is_a_typed_error(ledgerish):
    with pytest.raises(MissingColumnError, match="x_Feature"):
        charts.cost_by_team_stacked(ledgerish, team="x_Feature")


def test_empty_frame_gives_an_empty_chart(ledgerish):
    assert _rows(charts.daily_cost_by_provider(ledgerish.iloc[:0])) == []


def test_offline_renderer_emits_bundle_once_and_escapes_script():
    charts.reset_offline()
    first = charts.offline_html_renderer({"data": {"values": [{"a": "</script><b>"}]}, "mark": "point"})["text/html"]
    second = charts.offline_html_renderer({"mark": "bar"})["text/html"]
    assert first.count("vegaEmbed") >= 2 and len(first) > 500_000
    assert len(second) < 5_000
    # the data value cannot close the script element
    assert "</script><b>" not in first and "\\u003c/script>\\u003cb>" in first
    assert first.count("<script") == first.count("</script>") == 2
    charts.reset_offline()


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def test_enable_offline_registers_renderer_and_theme():
    charts.enable_offline()
    try:
        assert alt.renderers.active == "aifinops_offline"
        assert alt.theme.active == "aifinops"
        bundle = alt.Chart(pd.DataFrame({"x": [1]})).mark_point().encode(x="x:Q")._repr_mimebundle_()
        html = (bundle[0] if isinstance(bundle, tuple) else bundle)["text/html"]
        parser = _Refs()
        parser.feed(html)
        assert not [r for r in parser.refs if r.startswith(("http:", "https:", "//"))]
    finally:
        alt.renderers.enable("default")
        alt.theme.enable("default")
        charts.reset_offline()


@pytest.mark.parametrize("suffix,check", [
    (".svg", lambda b: b.startswith(b"<svg")),
    (".png", lambda b: b[:8] == b"\x89PNG\r\n\x1a\n"),
    (".pdf", lambda b: b.startswith(b"%PDF")),
    (".json", lambda b: json.loads(b)["spec"]["mark"]["type"] == "line"),  # faceted: USD and EUR
    (".html", lambda b: b"vegaEmbed" in b and b"cdn.jsdelivr" not in b),
])
def test_save_chart_formats(tmp_path, ledgerish, suffix, check):
    p = charts.save_chart(charts.daily_cost_by_provider(ledgerish), tmp_path / f"c{suffix}")
    assert check(p.read_bytes())


def test_save_chart_unknown_suffix(tmp_path, ledgerish):
    with pytest.raises(ValueError, match="unknown chart format"):
        charts.save_chart(charts.top_services_bar(ledgerish), tmp_path / "c.gif")


def test_vega_bundle_is_cached_per_vl_convert_version(tmp_path, monkeypatch):
    import vl_convert as vlc

    monkeypatch.setenv("AIFINOPS_CACHE", str(tmp_path))
    fresh = vlc.javascript_bundle()
    assert charts._vega_bundle() == fresh
    (cached,) = (tmp_path / "vl-convert").glob("vega-embed-bundle-*.js")
    assert cached.read_text(encoding="utf-8") == fresh and not list(cached.parent.glob(".*"))
    monkeypatch.setattr(vlc, "javascript_bundle", lambda: pytest.fail("rebuilt despite the cache"))
    assert charts._vega_bundle() == fresh
    # an unwritable cache still gives the bundle
    monkeypatch.undo()
    monkeypatch.setenv("AIFINOPS_CACHE", str(tmp_path / "file"))
    (tmp_path / "file").write_text("not a folder")
    assert charts._vega_bundle() == fresh
