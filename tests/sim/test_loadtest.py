"""Fast mode against a real command server on real PostgreSQL; the report renders."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from command import server
from command.db.embedded import free_port
from command.provision import DEMO_USERS, provision
from eventguard.settings import ServerSettings
from sim import report
from sim.loadtest import LoadResult, run_fast
from sim.scenario import Scenario, load_scenario

# A hall that fills: 4 gates admit faster than the 1 m passage to the stand drains it.
HALL = """
[event]
id = "hall-test"
[thresholds]
warning_density = 2.0
critical_density = 4.0
[[zones]]
id = "hall"
area_m2 = 100
capacity = 400
polygon = [[0, 0], [10, 0], [10, 10], [0, 10]]
[[zones]]
id = "stand"
area_m2 = 1000
capacity = 2000
polygon = [[0, 10], [40, 10], [40, 35], [0, 35]]
[[connections]]
a = "hall"
b = "stand"
width_m = 0.2
[sim]
attendees = 600
arrival_window_min = 4
peak_before_start_min = 2
duration_min = 4
admit_s = 2.0
"""
HALL += "".join(f'[[gates]]\nid = "H{i}"\nzone = "hall"\nlanes = 3\n' for i in range(4))


@dataclass
class Running:
    url: str
    tokens: dict[str, str]
    db_url: str


async def _start(scenario: Scenario, db_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    prov = await provision(db_url, scenario.venue, tmp_path / "keys")
    port = free_port()
    runner = await server.start(ServerSettings(port=port, database_url=db_url), scenario.venue)
    try:
        yield Running(f"http://127.0.0.1:{port}", prov.gate_tokens, db_url)
    finally:
        await runner.cleanup()


@pytest.fixture
def stadium() -> Scenario:
    return load_scenario("stadium").scaled(attendees=2000, duration_s=600)


@pytest.fixture
async def stadium_server(stadium: Scenario, db_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async for r in _start(stadium, db_url, tmp_path):
        yield r


VIEWER = ("viewer", DEMO_USERS["viewer"][0])


async def test_fast_run_stores_exactly_what_was_sent(stadium: Scenario, stadium_server: Running,
                                                     tmp_path: Path) -> None:
    res = await run_fast(stadium, url=stadium_server.url, gate_tokens=stadium_server.tokens,
                         viewer=VIEWER, seed=3, window_s=20)
    assert res.sent > 2000 and res.stored == res.sent and res.lost == 0 and res.errors == 0
    assert sum(int(a.sum()) for a in res.series.admitted) == 2000
    assert res.server_occupancy == res.sim_occupancy
    assert sum(res.sim_occupancy.values()) == 2000
    conn = await asyncpg.connect(stadium_server.db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM gate_events") == res.sent
        kinds = dict(await conn.fetch("SELECT kind, count(*) FROM gate_events GROUP BY kind"))
    finally:
        await conn.close()
    assert kinds["entry"] == 2000 and kinds["transfer"] == res.sent - 2000

    files = report.write(tmp_path / "report", stadium.venue, {"fast": res.summary()}, res, None)
    _check_report(files, tmp_path / "report")


def _check_report(files: list[Path], out: Path) -> None:
    page = (out / "index.html").read_text()
    pngs = [f for f in files if f.suffix == ".png"]
    assert {"queues.png", "peak_density.png", "heatmaps.png"} <= {p.name for p in pngs}
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 1000
        assert f'src="{p.name}"' in page
    assert "http" not in page  # no external resources
    assert (out / "summary.json").stat().st_size > 0


async def test_alert_follows_the_warning_crossing(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "hall.toml"
    path.write_text(HALL)
    hall = load_scenario(path)
    async for srv in _start(hall, db_url, tmp_path):
        res: LoadResult = await run_fast(hall, url=srv.url, gate_tokens=srv.tokens, viewer=VIEWER,
                                         seed=1, window_s=5, speedup=60)
    assert res.lost == 0 and res.server_occupancy == res.sim_occupancy
    crossing = next(c for c in res.crossings if c.zone == "hall")
    assert crossing.density >= 2.0
    assert crossing.alert_raised_at is not None, "the server raised no density alert"
    assert crossing.delay_s is not None and -0.5 < crossing.delay_s < 3.0  # ticker runs every 1 s
    s = res.summary()
    assert s["alerts"][0]["zone"] == "hall" and s["alert_delay_max_s"] is not None
