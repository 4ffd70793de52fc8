"""The benchmark script stays runnable: its --quick mode (10k findings, SQLite) in CI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_quick_reports_every_page_and_document(tmp_path):
    out = tmp_path / "report.json"
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "scripts/benchmark.py", "--quick", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads(out.read_text())["runs"][0]
    assert run["findings"] == 10_000 and run["rows"]["finding"] == 10_000
    assert set(run["pages"]) == {"overview", "ledger_filtered", "ledger_last_page", "finding_detail", "my_work",
                                 "villages", "meeting"}
    for name, page in run["pages"].items():
        assert page["errors"] == [], name
        assert page["cold_ms"] > 0 and page["sql_ms"] > 0 and page["session_state_bytes"] > 0
    documents = run["documents"]
    assert documents["excel_export"]["rows"] == 10_000
    assert documents["excel_import_10k"]["rows"] == 10_000
    assert documents["word_report"]["bytes"] > 0 and run["peak_rss_mb"] > 0
    lookback = run["lookback"]  # 回头看: the draw (every finding closed for it, rolled back) and the campaign page
    assert lookback["draw"]["closed_findings"] == 10_000 + documents["excel_import_10k"]["rows"]
    assert lookback["draw"]["sampled"] > 0
    assert lookback["campaign_page"]["errors"] == [] and lookback["campaign_page"]["server_ms"] > 0
    browser = run["browser"]
    if Path("/usr/bin/chromium").exists():  # the figure itself is reported, not judged
        assert browser.get("overview_interactive_seconds", 0) > 0, browser
    else:
        assert "skipped" in browser


def test_benchmark_households_quick_reports_every_figure(tmp_path):
    """``--households``: a few thousand households on SQLite; the figures are reported, no page fails (the
    timings themselves are judged in docs/performance.md, never here)."""
    out = tmp_path / "households.json"
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "scripts/benchmark.py", "--quick", "--households", "2000", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads(out.read_text())["runs"][0]
    assert run["households"] == 2_000 and run["rows"]["households_household"] == 2_000
    assert set(run["pages"]) == {"households", "households_township_red", "household", "elimination", "quality",
                                 "monitoring_figures"}
    for name, page in run["pages"].items():
        assert page["errors"] == [], name
        assert page["cold_ms"] > 0 and page["sql_ms"] > 0
    assert run["monitoring_figures"]["households"] > 0 and run["monitoring_figures"]["persons"] > 0
    assert set(run["quality_rules"]["hits"]) >= {"no_measure", "duplicate_person", "invalid_id"}
    imported = run["import_members"]   # --quick: 3,000 member rows (100,000 in the full run)
    assert imported["errors"] == [] and imported["member_rows"] == 3_000 and imported["households"] > 0
    screened = run["screen_list"]
    assert screened["rows"] == 3_000 and screened["matched"] > 0 and screened["unmatched"] > 0
