"""The export benchmark stays runnable with its one documented command."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_export_bench_runs_and_reports_every_format():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    result = subprocess.run(
        [sys.executable, "bench/export_bench.py", "--messages", "60", "--job-interviews", "5", "--job-messages", "4"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = result.stdout.split("format", 1)[1]
    for label in ("baseline (plain loop)", "json", "md", "txt", "csv", "pdf", "docx", "zip of json"):
        line = next(line for line in table.splitlines() if line.startswith(label))
        seconds, time_ratio, peak, peak_ratio, size = (float(v) for v in line[len(label) :].split())
        # Timings are the bench's business, not the suite's: only that each is a measurement.
        assert min(seconds, time_ratio, peak, peak_ratio) >= 0, line
        if label.startswith("baseline"):
            assert (time_ratio, peak_ratio) == (1.0, 1.0), line  # the ratios are to this row
        assert size > 0, line
    # The export job ran through daphne and the worker process, and every figure is reported.
    job = result.stdout.split("\njob ", 1)[1]
    assert "5 interviews x 4 messages, format json" in job
    assert "5 members" in job
    for label in ("worker: peak resident", "web: peak while the job runs", "web: peak while downloading"):
        assert re.search(rf"^{label} +\d+ MiB", job, re.MULTILINE), job
