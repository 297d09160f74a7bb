"""Drive mode: real gate services decide real faces + QR PNGs and the server stores them."""

from pathlib import Path

from support import shared

from command import server
from command.db.embedded import free_port
from command.provision import provision
from eventguard.settings import ServerSettings
from sim.drive import run_drive
from sim.scenario import load_scenario


async def test_drive_two_attendees_admitted_with_face_match(db_url: str, tmp_path: Path) -> None:
    faces_dir = shared("faces", "images")
    sc = load_scenario("stadium")
    prov = await provision(db_url, sc.venue, tmp_path / "keys")
    port = free_port()
    runner = await server.start(ServerSettings(port=port, database_url=db_url), sc.venue)
    try:
        res = await run_drive(sc, url=f"http://127.0.0.1:{port}", dsn=db_url, prov=prov, attendees=2,
                              speedup=3000, gates=2, faces_dir=faces_dir)
    finally:
        await runner.cleanup()
    s = res.summary()
    assert s["verdicts"] == {"admit": 2} and s["face_matched"] == 2
    assert all("face_match" in x["reasons"] for x in s["scans"])
    assert all(0 < (x["face_distance"] or 1) <= 0.6 for x in s["scans"])
    assert s["events_stored_by_server"] == 2
    assert s["latency_ms"]["p50"] is not None and s["latency_ms"]["p50"] > 0
