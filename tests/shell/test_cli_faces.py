"""`eventguard faces …` on real photos and a real database: embed, thresholds, compare, calibrate,
reenrol."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from pathlib import Path

import asyncpg
import numpy as np
import pytest
from support import insert_registration, shared

from command import face_seal, photo_seal, registration
from shell.cli import main
from shell.cli.common import ENGINES
from vision.engine import DEFAULT_ENGINE, EngineName, spec

EG = [sys.executable, "-m", "shell.cli"]
SFACE = spec(DEFAULT_ENGINE)


def test_the_cli_offers_every_engine() -> None:
    assert set(ENGINES) == {e.value for e in EngineName}


def test_embed_one_json_line_per_image(tmp_path: Path) -> None:
    images = shared("faces", "images")
    bad = tmp_path / "empty.jpg"
    bad.write_bytes(b"")
    files = [images / "examples__obama.jpg", shared("qr", "qrcode-1", "1.png"), bad, images / "tests__obama3.jpg"]
    r = subprocess.run([*EG, "faces", "embed", *map(str, files), "--json"], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr  # two images gave no embedding
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [row["file"] for row in rows] == [str(f) for f in files]
    assert all(row["model_id"] == SFACE.model_id for row in rows)
    ok, qr, empty, obama3 = rows
    assert ok["faces"] == 1 and ok["dim"] == 128 and ok["metric"] == "cosine" and len(ok["embedding"]) == 128
    assert ok["quality"]["below_bar"] is False and ok["quality"]["face_px"] > 100
    assert (qr["problem"], qr["faces"]) == ("no_face", 0) and "embedding" not in qr
    assert empty["problem"] == "empty_image"
    # anyone can score pairs from these lines with the printed metric and thresholds
    d = 1 - float(np.dot(ok["embedding"], obama3["embedding"]))
    assert d <= SFACE.thresholds.verify


def test_thresholds_json_names_engine_metric_and_sources() -> None:
    r = subprocess.run([*EG, "faces", "thresholds", "--json"], capture_output=True, text=True, check=True)
    out = json.loads(r.stdout)
    assert (out["engine"], out["model_id"], out["metric"], out["dim"]) == ("sface", SFACE.model_id, "cosine", 128)
    assert out["verify"] == {"threshold": 0.6404, "source": SFACE.thresholds.verify_source}
    assert out["screen"]["threshold"] == 0.5378 and "FPIR 1%" in out["screen"]["source"]
    r = subprocess.run([*EG, "faces", "thresholds", "--json", "--face-engine", "dlib-numpy",
                        "--screen-threshold", "0.4"], capture_output=True, text=True, check=True)
    out = json.loads(r.stdout)
    assert (out["metric"], out["model_id"]) == ("euclidean", "dlib-resnet-v1")
    assert out["screen"] == {"threshold": 0.4, "source": "command line"}


def test_compare_uses_the_engines_threshold_or_the_given_one() -> None:
    a = shared("faces", "images", "examples__obama.jpg")
    b = shared("faces", "images", "examples__obama2.jpg")
    r = subprocess.run([*EG, "faces", "compare", str(a), str(b)], capture_output=True, text=True, check=True)
    out = json.loads(r.stdout)
    assert out["same"] is True and out["distance"] <= out["threshold"] == SFACE.thresholds.verify
    r = subprocess.run([*EG, "faces", "compare", str(a), str(b), "--threshold", str(out["distance"] / 2)],
                       capture_output=True, text=True, check=True)
    assert json.loads(r.stdout)["same"] is False  # the threshold is what decides


def test_calibrate_a_labelled_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared("faces")
    out = tmp_path / "report"
    assert main(["faces", "calibrate", "--set", str(folder), "--out", str(out), "--list-size", "2",
                 "--cache", str(tmp_path / "cache")]) == 0
    text = capsys.readouterr().out
    assert "verify (1:1) at FMR 0.001: cosine distance" in text
    for name in ("det.png", "scores.png", "identification.png", "summary.json", "summary.txt"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["chosen"]["targets"]["list_size"] == 2 and summary["photos"] == 16
    assert main(["faces", "calibrate", "--out", str(out)]) == 2  # neither --set nor --event
    assert main(["faces", "calibrate", "--set", str(tmp_path), "--out", str(out)]) == 2  # no labels.csv


async def test_calibrate_on_an_events_registrants(db_url: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    key = photo_seal.load_key(photo_seal.key_path(tmp_path / "keys"))
    conn = await asyncpg.connect(db_url)
    try:
        base = rng.normal(size=128)
        twin = base + rng.normal(scale=0.05, size=128)  # one person registered twice
        for i, v in enumerate([base, twin, *rng.normal(size=(8, 128))]):  # sealed, and some clear (before 0023)
            await insert_registration(conn, "ev", encoding=v / np.linalg.norm(v), sealed_with=key if i % 3 else None)
        await insert_registration(conn, "ev", encoding=rng.normal(size=128), model_id="dlib-resnet-v1")
    finally:
        await conn.close()
    out = tmp_path / "crowd"
    argv = ["faces", "calibrate", "--event", "ev", "--out", str(out), "--database-url", db_url, "--json",
            "--key-dir", str(tmp_path / "keys")]
    assert await asyncio.to_thread(main, argv) == 0
    crowd = json.loads((out / "crowd.json").read_text())
    assert crowd["registrations"] == 10 and crowd["pairs"] == 45  # the dlib registration is not compared
    assert crowd["verify"]["false_matches"] == 1 and crowd["screen"]["false_positives"] == 2
    assert crowd["closest_pairs"][0]["distance"] < 0.01
    assert (out / "crowd.png").stat().st_size > 0


async def test_reenrol_moves_registrations_and_watchlist_entries_to_the_engine(db_url: str,
                                                                               tmp_path: Path) -> None:
    """Registered with dlib, then `faces reenrol` with SFace from the sealed photos: progress on
    stderr, rows renumbered for the gates, resumable (a second run finds nothing to do)."""
    images = shared("faces", "images")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("examples__obama.jpg", "examples__biden.jpg"):
        (photos / name).symlink_to(images / name)
    csv_path = tmp_path / "reg.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(registration.COLUMNS)
        w.writerow(["Barack Obama", "110101199001011237", "vip", "", "examples__obama.jpg"])
        w.writerow(["Joe Biden", "110101199202022346", "standard", "", "examples__biden.jpg"])
    keys = tmp_path / "keys"
    key = photo_seal.load_key(photo_seal.key_path(keys))
    from vision.faceworker import EngineOptions

    conn = await asyncpg.connect(db_url)
    try:
        await registration.import_csv(conn, csv_path, photos, event_id="ev", secret=bytes(32), photo_key=key,
                                      workers=1, engine=EngineOptions(EngineName.DLIB_NUMPY))
        await insert_registration(conn, "ev", encoding=np.ones(128), model_id="dlib-resnet-v1")  # no photo kept
        lid = "l1"
        await conn.execute("INSERT INTO watchlists (id, name, severity, created_by) VALUES ($1, 'w', 'deny', 't')", lid)
        eid = "e1"
        data = (images / "examples__obama2.jpg").read_bytes()
        await conn.execute(
            "INSERT INTO watchlist_entries (id, list_id, label, encoding, added_by, model_id, photo_sealed)"
            " VALUES ($1, $2, 'x', $3, 't', 'dlib-resnet-v1', $4)", eid, lid, np.zeros(128).tobytes(),
            photo_seal.seal(key, data, photo_seal.watch_owner(eid)))
        before = {r["registration_id"]: r["sync_version"] for r in await conn.fetch(
            "SELECT registration_id, sync_version FROM registrations")}
    finally:
        await conn.close()

    argv = ["faces", "reenrol", "--event", "ev", "--key-dir", str(keys), "--database-url", db_url,
            "--workers", "1", "--json"]
    proc = await asyncio.create_subprocess_exec(*EG, *argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out_b, err_b = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 1, err_b.decode()  # one registration has no photo to re-enrol from
    out = json.loads(out_b)
    assert out["model_id"] == SFACE.model_id
    assert {k: out["registrations"][k] for k in ("total", "reenrolled", "no_photo", "failed")} == {
        "total": 3, "reenrolled": 2, "no_photo": 1, "failed": 0}
    assert {k: out["watchlist"][k] for k in ("total", "reenrolled", "failed")} == {"total": 1, "reenrolled": 1,
                                                                                   "failed": 0}
    assert "registrations: 3/3" in err_b.decode()  # progress

    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch("SELECT registration_id, name, model_id, encoding, encoding_sealed, sync_version"
                                " FROM registrations")
        moved = [r for r in rows if r["model_id"] == SFACE.model_id]
        assert sorted(r["name"] for r in moved) == ["Barack Obama", "Joe Biden"]
        for r in moved:
            assert r["sync_version"] > before[r["registration_id"]]  # news for the gates
            assert r["encoding"] is None  # stored sealed, bound to the new model
            assert np.linalg.norm(face_seal.registration_face(key, r)) == pytest.approx(1.0, abs=1e-5)
        obama = next(face_seal.registration_face(key, r) for r in moved if r["name"] == "Barack Obama")
        entry = await conn.fetchrow("SELECT id, model_id, encoding, encoding_sealed FROM watchlist_entries"
                                    " WHERE id = 'e1'")
        assert entry["model_id"] == SFACE.model_id and entry["encoding"] is None
        assert SFACE.distance(obama, face_seal.watch_face(key, entry)) <= SFACE.thresholds.verify
    finally:
        await conn.close()

    # a second run has nothing left to re-enrol but the photo-less row
    rc = await asyncio.to_thread(main, [*argv[:-1]])
    assert rc == 1
