"""`plaza simulate --html`: the report opens in headless Chromium from a file, loads nothing from the network, and
shows its plots — lines and bars with extent, for every pool."""

import json
import subprocess

from conftest import ROOT, screenshot

SAMPLES = ROOT / "deploy" / "autoscaling"


def test_the_html_report_shows_its_charts(binary, browsers, tmp_path):
    page = tmp_path / "report.html"
    result = subprocess.run(
        [binary, "simulate", "--no-progress", "--pools", str(SAMPLES / "pools.json"), "--pools", str(SAMPLES / "recommended.json"),
         "--synthetic", "week", "--users", "3000", "--html", str(page), "--json"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)["runs"]
    html = page.read_text()
    assert "<script" not in html and "src=\"http" not in html and "href=\"http" not in html, "self-contained"

    driver = browsers(width=1400, height=1000)
    driver.get(page.as_uri())
    charts = driver.execute_script("""
        return [...document.querySelectorAll('svg.chart')].map(svg => {
            // A bar needs both extents; a line may be flat (a constant series) but must span the plot.
            const marks = [...svg.querySelectorAll('polyline, path, rect')].filter(mark => {
                const box = mark.getBBox();
                return box.width > 0 && (box.height > 0 || mark.tagName !== 'rect');
            });
            const rect = svg.getBoundingClientRect();
            return {title: svg.querySelector('title') ? svg.querySelector('title').textContent : '', marks: marks.length,
                    width: rect.width, height: rect.height};
        });""")
    pools = sum(len(run["pools"]) for run in runs)
    # Per pool: instances over the week, demand, utilization; and the cost breakdown.
    assert len(charts) >= 3 * pools + 1, charts
    for chart in charts:
        assert chart["width"] > 200 and chart["height"] > 80, chart
        assert chart["marks"] >= 1, chart
    # Each pool's own charts: its instances move over the week, and its utilization has bars.
    per_pool = driver.execute_script("""
        const charts = [...document.querySelectorAll('svg.chart')];
        const moving = charts.filter(svg => (svg.querySelector('title') || {}).textContent.startsWith('Instances')
            && [...svg.querySelectorAll('polyline')].some(line => line.getBBox().height > 0)).length;
        const bars = charts.filter(svg => (svg.querySelector('title') || {}).textContent.startsWith('Utilization')
            && [...svg.querySelectorAll('rect')].some(bar => bar.getBBox().height > 1)).length;
        return [moving, bars];""")
    assert per_pool == [pools, pools], (per_pool, [chart["title"] for chart in charts])
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0, "nothing fetched"
    assert "recommended.json" in driver.find_element("tag name", "body").text
    path = screenshot(driver, "simulate-report.png")
    driver.set_window_size(1400, int(driver.execute_script("return document.body.scrollHeight")) + 100)
    screenshot(driver, "simulate-report-full.png")
    assert path.stat().st_size > 20_000, "a screenshot with content"
