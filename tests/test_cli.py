"""The `aifinops` command: exit codes and subcommand wiring."""

from __future__ import annotations

import json

from aifinops.cli import main

HEADER = "BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ServiceName,ResourceId\n"


def test_ingest_exit_codes_and_summary(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "1.5,2025-01-01,USD,Usage,S3,r1\n")
    assert main(["ingest", str(good), "--ledger", str(tmp_path / "l")]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "oops,2025-01-01,USD,Usage,S3,r1\n")
    assert main(["ingest", str(bad), "--ledger", str(tmp_path / "l")]) == 2
    capsys.readouterr()
    assert main(["ledger", "summary", "--ledger", str(tmp_path / "l"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["file"] for r in rows} == {str(good), str(bad)}
    assert main(["ledger", "summary", "--ledger", str(tmp_path / "missing")]) == 1


def test_alerts_fail_on_alert_exit_code(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text(HEADER + "".join(f"{c},2025-01-{d:02d},USD,Usage,EC2,i-{d}\n"
                                  for d, c in [(1, 10), (2, 10), (3, 500)]))
    assert main(["ingest", str(f), "--ledger", str(tmp_path / "l")]) == 0
    pol = tmp_path / "policies.yaml"
    pol.write_text("policies:\n  - name: runaway\n    type: daily_limit\n    key: ResourceId\n    max: 100\n")
    out = tmp_path / "alerts.json"
    args = ["alerts", "--ledger", str(tmp_path / "l"), "--policies", str(pol), "--period", "2025-01", "--out", str(out)]
    assert main(args) == 0
    assert main(args + ["--fail-on-alert"]) == 3
    assert json.loads(out.read_text())["count"] >= 1
