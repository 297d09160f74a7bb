"""`eventguard bench screening --json` on the 16 shared photos, padded to 3,000 entries with the
PQ stage forced on: the report's shape and the figures that must hold whatever the timing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import shared

from shell.cli import main


def test_bench_screening_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    faces = shared("faces")
    assert main(["bench", "screening", "--json", "--engines", "sface", "--sizes", "500,3000",
                 "--enrolled", "2", "--recall-queries", "12", "--repeats", "2",
                 "--coarse-min", "1000", "--alternatives", "--data", str(faces), "--cache", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    (e,) = report["engines"]
    assert e["metric"] == "cosine" and e["enrolled"] == 2 and e["identities"] == 4
    assert e["mated_probes"] + e["non_mated_probes"] + 2 == e["photos_with_face"] == 16
    small, big = e["timing"]
    assert (small["entries"], big["entries"]) == (500, 3000)
    assert small["method"].startswith("exact") and big["method"].startswith("PQ fast scan")
    for t in (small, big):
        assert len(t["query_ms"]) == 2 and t["query_ms"][0]["n"] == 14
        assert 0 < t["query_ms"][0]["p50"] <= t["query_ms"][0]["p99"]
        assert t["recall"]["queries"] == 12 and t["recall"]["top1"] == 1.0
        assert t["memory"]["vectors"] >= t["entries"] * 128 * 4
        p = t["pairs"]  # the probes two by two: one search_many gave the single searches' hits
        assert p["pairs"] == 7 and p["identical"] == 7 and p["search_many_ms"]["p50"] > 0
    assert big["memory"]["pq_codes"] >= 3000 * 32 and small["memory"]["pq_codes"] == 0
    assert set(big["churn"]) == {"add_ms", "remove_ms", "replace_ms"}
    assert [a["method"] for a in big["alternatives"]] == ["faiss Flat", "faiss SQ8 + exact re-score of 16"]
    assert big["alternatives"][0]["top1"] == 1.0 and "alternatives" not in small
    sizes = [r["entries"] for r in e["identification"]]
    assert sizes == [2, 500, 3000] and e["identification"][0]["gallery"] == "real only"
    for r in e["identification"]:
        for k in ("fpir", "fnir"):
            assert 0.0 <= r["measured"]["fixed_threshold"][k] <= 1.0
            assert 0.0 <= r["binomial"]["fixed_threshold"][k] <= 1.0
    c = report["conditions"]
    assert "1000" in c["index"].replace(",", "") and c["faiss"]


def test_bench_screening_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    faces = shared("faces")
    assert main(["bench", "screening", "--engines", "sface", "--sizes", "300", "--enrolled", "2",
                 "--recall-queries", "5", "--repeats", "1", "--data", str(faces),
                 "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "300 entries [exact" in out and "recall of exact top-1: 100.00%" in out
    assert "one search_many" in out and "identical hits 7/7 pairs" in out
    assert "rank-1 identification" in out and "conditions:" in out
