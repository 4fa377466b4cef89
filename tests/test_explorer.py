"""The explorer panel on a small ledger: SQL aggregates, widget options, and widgets driven
programmatically update the chart specs and the table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import altair as alt
import pytest

from aifinops import explorer
from aifinops.errors import ConfigError
from aifinops.explorer import OTHER, UNATTRIBUTED, Explorer, Selection
from aifinops.ingest import ingest
from aifinops.ledger import Ledger

HEADER = "BilledCost,EffectiveCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ProviderName,ServiceName,Tags,x_Model,x_Tokens,x_Requests\n"
# (day, cost, effective, currency, provider, service, team, feature, model, tokens, requests)
ROWS = [
    (1, "10.50", "9", "USD", "AWS", "Amazon EC2", "search", "chat", "", "", ""),
    (1, "2.25", "2.25", "USD", "OpenAI", "GPT-4o", "search", "chat", "gpt-4o", "1000", "4"),
    (2, "3.75", "3.75", "USD", "OpenAI", "GPT-4o", "ads", "summaries", "gpt-4o-mini", "5000", "10"),
    (2, "1.000000000000000001", "1", "USD", "Anthropic", "Claude", "", "", "claude-sonnet-4", "700", "2"),
    (3, "7", "6.5", "EUR", "Azure", "Azure OpenAI", "ads", "chat", "gpt-4o", "300", "1"),
    (3, "0.5", "0.5", "USD", "GCP", "Vertex AI", "ads", "", "gemini-2.5-pro", "200", "1"),
    (14, "100", "90", "USD", "AWS", "Amazon EC2", "search", "chat", "", "", ""),  # outside early-March range
]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Ledger:
    d = tmp_path_factory.mktemp("explorer")
    src = d / "focus.csv"
    lines = [HEADER]
    for day, cost, eff, cur, prov, svc, team, feat, model, tok, req in ROWS:
        tags = {k: v for k, v in (("team", team), ("feature", feat)) if v}
        tag_json = "{" + ", ".join(f'""{k}"": ""{v}""' for k, v in tags.items()) + "}"
        lines.append(f'{cost},{eff},2025-03-{day:02d},{cur},Usage,{prov},{svc},"{tag_json}",{model},{tok},{req}\n')
    src.write_text("".join(lines), encoding="utf-8")
    rep = ingest([src], d / "ledger")
    assert [f.status for f in rep.files] == ["ok"]
    return Ledger(d / "ledger")


def test_options_are_the_ledgers_distinct_values(ledger):
    opts = explorer.options(ledger)
    assert opts["ProviderName"] == ["AWS", "Anthropic", "Azure", "GCP", "OpenAI"]
    assert opts["x_Team"] == [UNATTRIBUTED, "ads", "search"]
    assert "gpt-4o-mini" in opts["x_Model"] and UNATTRIBUTED in opts["x_Model"]
    assert (opts["start"], opts["end"]) == (dt.date(2025, 3, 1), dt.date(2025, 3, 14))


def test_top_frame_is_exact_per_currency_and_ranked(ledger):
    top = explorer.top_frame(ledger, Selection(by="ProviderName"))
    usd = top[top["unit"] == "USD"]
    assert usd["group"].tolist() == ["AWS", "OpenAI", "Anthropic", "GCP"]
    assert usd["value"].tolist()[0] == Decimal("110.5")
    assert usd["value"].tolist()[2] == Decimal("1.000000000000000001")  # exact, not float
    eur = top[top["unit"] == "EUR"]
    assert eur["group"].tolist() == ["Azure"] and eur["value"].iloc[0] == Decimal(7)
    assert eur["share"].iloc[0] == Decimal("100.0")


def test_filters_dates_and_unattributed(ledger):
    sel = Selection(start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 3), by="x_Team",
                    filters={"x_Team": ("search", UNATTRIBUTED)})
    top = explorer.top_frame(ledger, sel)
    got = {(g, u): v for g, u, v in zip(top["group"], top["unit"], top["value"])}
    assert got == {("search", "USD"): Decimal("12.75"), (UNATTRIBUTED, "USD"): Decimal("1.000000000000000001")}


def test_trend_folds_groups_beyond_top_n_into_other(ledger):
    sel = Selection(by="ProviderName", top_n=1, filters={"ProviderName": ("AWS", "OpenAI", "GCP")})
    trend = explorer.trend_frame(ledger, sel)
    assert set(trend["group"]) == {"AWS", OTHER}
    day2 = trend[(trend["day"] == "2025-03-02")]
    assert day2["group"].tolist() == [OTHER] and day2["value"].iloc[0] == Decimal("3.75")
    # totals are the same with or without folding
    full = explorer.trend_frame(ledger, Selection(by="ProviderName", filters=sel.filters))
    assert sum(trend["value"]) == sum(full["value"]) == Decimal(117)


def test_usage_metrics_read_every_row_and_cost_only_billed(ledger):
    tokens = explorer.top_frame(ledger, Selection(metric="x_Tokens", by="x_Model"))
    assert set(tokens["unit"]) == {"tokens"}
    assert dict(zip(tokens["group"], tokens["value"]))["gpt-4o"] == Decimal(1300)
    assert "FROM billed" in explorer._ranked_cte(Selection(metric="EffectiveCost"))
    assert "FROM ledger" in explorer._ranked_cte(Selection(metric="x_GpuHours"))


def test_bad_arguments_are_typed_errors(ledger):
    with pytest.raises(ConfigError, match="period must be YYYY-MM") as err:
        Explorer(ledger, period="2025-13")
    assert err.value.column == "period"
    with pytest.raises(ConfigError, match="unknown metric"):
        Explorer(ledger, metric="ListCost")


def test_selection_rejects_unknown_names():
    with pytest.raises(ConfigError, match="unknown metric"):
        Selection(metric="Cost; DROP TABLE x")
    with pytest.raises(ValueError, match="unknown dimension"):
        Selection(by="BillingAccountName")
    with pytest.raises(ValueError, match="unknown filter"):
        Selection(filters={"ServiceName": ("x",)})


def test_filter_values_are_quoted(ledger):
    sel = Selection(filters={"x_Team": ("o'brien",)})
    assert "'o''brien'" in explorer.where_sql(sel)
    assert explorer.top_frame(ledger, sel).empty


def _data(jchart: alt.JupyterChart) -> list[dict]:
    spec = jchart.spec  # what the widget synced to the browser
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def test_panel_builds_with_offline_jupyter_charts(ledger):
    panel = Explorer(ledger)
    assert alt.JupyterChart._is_offline
    assert isinstance(panel.trend, alt.JupyterChart) and isinstance(panel.top, alt.JupyterChart)
    assert panel.trend.spec["spec"]["mark"]["type"] == "area"  # the synced spec (faceted: USD and EUR)
    assert panel.controls["ProviderName"].options == ("AWS", "Anthropic", "Azure", "GCP", "OpenAI")
    assert panel.controls["start"].value == dt.date(2025, 3, 1)
    assert "110.50" in panel.table.value and "AWS" in panel.table.value
    assert "Billed cost" in panel.status.value
    assert panel.widget.children[2] is panel.status


def test_changing_widgets_updates_charts_and_table(ledger):
    panel = Explorer(ledger)
    before = panel.trend.spec
    panel.controls["metric"].value = "x_Tokens"
    assert panel.trend.spec != before
    assert panel.trend.spec["encoding"]["y"]["title"] == "Tokens (tokens)"  # one unit: no facet
    assert {r["unit"] for r in _data(panel.trend)} == {"tokens"}
    assert ">6,000<" in panel.table.value  # OpenAI tokens, exact and thousands separated

    panel.controls["by"].value = "x_Model"
    assert {r["group"] for r in _data(panel.top)} == {"gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-pro"}
    assert "Model" in panel.table.value

    panel.controls["ProviderName"].value = ("Anthropic",)
    assert [r["group"] for r in _data(panel.top)] == ["claude-sonnet-4"]
    assert "gpt-4o" not in panel.table.value

    panel.controls["ProviderName"].value = ()
    panel.controls["metric"].value = "BilledCost"
    panel.controls["end"].value = dt.date(2025, 3, 2)
    days = {r["day"][:10] if isinstance(r["day"], str) else r["day"] for r in _data(panel.trend)}
    assert len(days) == 2
    assert "No rows" not in panel.table.value

    panel.controls["x_Team"].value = ("ads",)
    panel.controls["start"].value = dt.date(2025, 3, 3)
    assert panel.top_data.empty and "No rows match" in panel.table.value


def test_period_sets_the_date_range(ledger):
    panel = Explorer(ledger, period="2025-03", metric="EffectiveCost", by="x_Team", top_n=2)
    assert (panel.controls["start"].value, panel.controls["end"].value) == (dt.date(2025, 3, 1), dt.date(2025, 3, 31))
    sel = panel.selection()
    assert (sel.metric, sel.by, sel.top_n) == ("EffectiveCost", "x_Team", 2)
    usd = panel.top_data[panel.top_data["unit"] == "USD"]
    assert usd["value"].tolist() == [Decimal("101.25"), Decimal("4.25")]  # search, ads (effective cost)


def test_several_currencies_get_separate_panels(ledger):
    panel = Explorer(ledger)
    spec = panel.top.chart.to_dict()
    assert spec["facet"]["row"]["field"] == "unit"
    panel.controls["ProviderName"].value = ("Azure",)
    assert "facet" not in panel.top.chart.to_dict()


def test_notebook_is_thin_and_calls_show(repo: Path):
    import nbformat

    nb = nbformat.read(repo / "notebooks" / "00_explorer.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "explorer.show(" in code and "ledger_path" in code


def test_long_ranges_are_not_capped_and_the_global_row_limit_is_untouched(ledger, monkeypatch):
    import pandas as pd

    before = dict(alt.data_transformers.options)
    days = pd.date_range("2025-01-01", periods=2600, freq="D")
    big = pd.DataFrame({"day": list(days) * 2, "group": ["a"] * 2600 + ["b"] * 2600, "unit": "USD",
                        "value": [Decimal(1)] * 5200, "rank": [1] * 2600 + [2] * 2600})
    panel = Explorer(ledger)
    monkeypatch.setattr(explorer, "trend_frame", lambda led, sel: big)
    panel.controls["top_n"].value = 2  # more than Altair's default 5,000-row cap
    assert len(_data(panel.trend)) == 5200
    assert dict(alt.data_transformers.options) == before
