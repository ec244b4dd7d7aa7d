"""`plaza simulate` from the command line: the shipped pool files, model and trace, the JSON report's contract,
and clear errors for bad input. (Its engine is tested in Tests/PlazaSimulationTests; the HTML report in
Tests/Browser/test_simulate_report.py.)"""

import json
import subprocess
from pathlib import Path

from conftest import ROOT

SAMPLES = ROOT / "deploy" / "autoscaling"
# Every field docs/simulate.md documents, and no other.
POOL_FIELDS = {
    "name", "kind", "instanceHours", "cost", "instanceCost", "egressCost", "egressGB", "peakInstances", "meanInstances",
    "utilization", "overloadMinutes", "overloadParticipantMinutes", "conferencesKeptWaiting", "conferencesRefused",
    "recordingsKeptWaiting", "recordingsRefused", "recordingWaitP95", "conferencesCut", "activities", "flaps", "timeToCapacity",
}
TOTAL_FIELDS = {"instanceHours", "cost", "overloadMinutes", "recordingsRefused", "conferencesCut", "conferencesRefused"}
WORKLOAD_FIELDS = {"conferences", "recorded", "participants", "meanSize", "meanDurationMinutes", "duration", "peakParticipants"}


def simulate(binary, *arguments, check=True):
    result = subprocess.run(
        [binary, "simulate", "--no-progress", *arguments], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_the_json_report_of_one_pool_file_has_the_documented_fields(binary):
    report = json.loads(simulate(
        binary, "--pools", str(SAMPLES / "pools.json"), "--synthetic", "week", "--users", "1500", "--json").stdout)
    assert set(report) == {"file", "pools", "total", "workload"}
    assert report["file"] == "pools.json"
    assert [pool["name"] for pool in report["pools"]] == ["rooms-eu", "bridges-eu-shard1", "recorders-eu"]
    for pool in report["pools"]:
        assert set(pool) == POOL_FIELDS, set(pool) ^ POOL_FIELDS
        assert set(pool["utilization"]) == {"p50", "p95", "p99"}
        assert pool["instanceHours"] > 0 and pool["peakInstances"] >= 1
    assert set(report["total"]) == TOTAL_FIELDS
    assert set(report["workload"]) == WORKLOAD_FIELDS
    assert abs(report["total"]["instanceHours"] - sum(p["instanceHours"] for p in report["pools"])) < 1e-6
    workload = report["workload"]
    assert workload["duration"] == 7 * 86400 and workload["conferences"] > 1000
    assert 8 < workload["meanSize"] < 12, workload


def test_several_pool_files_run_on_the_same_workload_with_the_same_seed_giving_the_same_report(binary):
    arguments = ["--pools", str(SAMPLES / "pools.json"), "--pools", str(SAMPLES / "recommended.json"),
                 "--synthetic", "week", "--users", "1500", "--seed", "5"]
    first = json.loads(simulate(binary, *arguments, "--json").stdout)
    assert [run["file"] for run in first["runs"]] == ["pools.json", "recommended.json"]
    assert json.loads(simulate(binary, *arguments, "--json").stdout) == first, "the same seed, the same report"
    table = simulate(binary, *arguments).stdout
    comparison = table.split("against pools.json", 1)[1]
    row = next(line for line in comparison.splitlines() if line.startswith("recommended.json"))
    totals = [run["total"] for run in first["runs"]]
    hours, cost = (f"{totals[1][key] / totals[0][key]:.2f}×" for key in ("instanceHours", "cost"))
    assert row.split()[1:3] == [hours, cost], (row, hours, cost)


def test_the_shipped_trace_and_model_run(binary):
    report = json.loads(simulate(
        binary, "--pools", str(SAMPLES / "recommended.json"), "--trace", str(SAMPLES / "sample-trace.csv"),
        "--model", str(SAMPLES / "model.json"), "--json").stdout)
    assert report["workload"]["conferences"] == 10 and report["workload"]["recorded"] == 3
    recorders = next(pool for pool in report["pools"] if pool["kind"] == "jibri")
    assert recorders["recordingsRefused"] == 0 and report["total"]["conferencesCut"] == 0


def test_bad_input_is_refused_with_what_is_wrong(binary, tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("start,end,participants\n0,60,3\n120,60,2\n")
    result = simulate(binary, "--pools", str(SAMPLES / "pools.json"), "--trace", str(trace), check=False)
    assert result.returncode == 1 and "line 3" in result.stderr, result.stderr
    model = tmp_path / "model.json"
    model.write_text('{"videoKpbs": 1}')
    result = simulate(binary, "--pools", str(SAMPLES / "pools.json"), "--synthetic", "week", "--users", "10",
                      "--model", str(model), check=False)
    assert result.returncode == 1 and "unknown key 'videoKpbs'" in result.stderr, result.stderr
    result = subprocess.run(  # a pipe has no size: the limit holds all the same
        [binary, "simulate", "--no-progress", "--pools", str(SAMPLES / "pools.json"), "--trace", "/dev/stdin",
         "--max-trace-bytes", "10"], input=trace.read_text(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "--max-trace-bytes" in result.stderr, result.stderr
    result = simulate(binary, "--pools", str(SAMPLES / "pools.json"), check=False)
    assert result.returncode == 64 and "give either --trace FILE or --synthetic week --users N" in result.stderr, result.stderr
    result = simulate(binary, "--pools", str(SAMPLES / "pools.json"), "--trace", str(trace), "--users", "10", check=False)
    assert result.returncode == 64 and "--users goes with --synthetic week, not --trace" in result.stderr, result.stderr
    long_trace = tmp_path / "long.csv"
    long_trace.write_text("start,end,participants\n0,3000000,3\n")
    result = simulate(binary, "--pools", str(SAMPLES / "pools.json"), "--trace", str(long_trace), check=False)
    assert result.returncode == 1 and "--max-days" in result.stderr, result.stderr
    model.write_text('{"pools": {"bridges-eu-shard2": {"pricePerHour": 1}}}')
    result = simulate(binary, "--pools", str(SAMPLES / "pools.json"), "--synthetic", "week", "--users", "10",
                      "--model", str(model), check=False)
    assert result.returncode == 1 and "pools.bridges-eu-shard2: no pool file has a pool of that name" in result.stderr, result.stderr
