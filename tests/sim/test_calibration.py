"""`sim check --report`: the calibration plot and JSON (model vs data)."""

import json
from pathlib import Path

from sim import calibration, checks


def test_report_plots_model_against_data(tmp_path: Path) -> None:
    results = [checks.rimea4(), checks.bottleneck_widths(widths=(0.5, 1.0), runs=1)]
    figs = calibration.figures(results)
    files = calibration.write_report(tmp_path, figs)
    assert {f.name for f in files} == {"calibration.png", "calibration.json"}
    assert (tmp_path / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "calibration.json").read_text())
    rows = data["bottleneck"]["rows"]
    assert [r["width_m"] for r in rows] == [0.5, 1.0]
    assert all(abs(r["relative_error"]) <= checks.FLOW_TOLERANCE for r in rows)
    assert {e["key"] for e in data["bottleneck"]["experiments"]} == {
        "kretz2006", "seyfried2009", "liddle2011"}
    assert len(data["fundamental_diagram"]) == len(checks.FD_DENSITIES)
    sf = data["single_file"]["rows"]
    assert [r["line_density"] for r in sf] == list(calibration.SINGLE_FILE_DENSITIES)
    # reported, not a pass criterion; a guard against it drifting further away
    assert all(abs(r["difference_m_s"]) <= 0.3 for r in sf)
