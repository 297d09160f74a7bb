"""Registration import on real PostgreSQL with the shared face photos as registration photos."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import stat
from datetime import date
from pathlib import Path

import asyncpg
import numpy as np
import pytest
from support import shared

from command import face_seal, issuing, photo_seal, registration
from command.registration import RejectCode, RowStatus
from eventguard import tickets
from eventguard.settings import DEFAULT_VENUE
from shell import cli
from vision.engine import DEFAULT_ENGINE, spec

EVENT = "demo-2026"
SECRET = bytes(range(32))
PHOTO_KEY = bytes(range(32, 64))
OBAMA_ID = "110101199001011237"
ENGINE = spec(DEFAULT_ENGINE)

# (name, id_number, ticket_type, entrances, photo[, id_type]) and what must happen to the row
ROWS: list[tuple[tuple[str, ...], RowStatus, RejectCode | None]] = [
    (("Barack Obama", OBAMA_ID, "vip", "N1;N2", "examples__obama.jpg"), RowStatus.IMPORTED, None),
    (("Joe Biden", "110101199202022346", "standard", "", "examples__biden.jpg"), RowStatus.IMPORTED, None),
    (("Alex Lacamoire", "G12345678", "standard", "S1", "examples__alex-lacamoire.png", "passport"),
     RowStatus.IMPORTED, None),
    (("Two People", "110101199303033458", "standard", "", "examples__two_people.jpg"),
     RowStatus.REJECTED, RejectCode.MULTIPLE_FACES),
    (("QR Code", "11010119940404456X", "standard", "", "qr-1.png"), RowStatus.REJECTED, RejectCode.NO_FACE),
    (("Nobody", "110101199505055671", "standard", "", "missing.jpg"), RowStatus.REJECTED,
     RejectCode.PHOTO_MISSING),
    (("Obama Again", "1101 0119 9001 0112 37", "standard", "", "tests__obama2.jpg"), RowStatus.REJECTED,
     RejectCode.DUPLICATE_IN_FILE),
    (("", "110101199606066783", "standard", "", "examples__biden.jpg"), RowStatus.REJECTED,
     RejectCode.MISSING_FIELD),
    (("Bad Gate", "110101199707077895", "standard", "N1,,;x y", "examples__biden.jpg"), RowStatus.REJECTED,
     RejectCode.BAD_ENTRANCES),
    (("Escape", "110101199808088905", "standard", "", "../labels.csv"), RowStatus.REJECTED,
     RejectCode.PHOTO_MISSING),
    (("Broken", "110101199909099013", "standard", "", "broken.jpg"), RowStatus.REJECTED,
     RejectCode.PHOTO_UNREADABLE),
    (("Typo", "110101199001011238", "standard", "", "examples__biden.jpg"), RowStatus.REJECTED,
     RejectCode.BAD_ID_NUMBER),  # one digit off: the check digit catches it
    (("Bad Date", "110101199002301236", "standard", "", "examples__biden.jpg"), RowStatus.REJECTED,
     RejectCode.BAD_ID_NUMBER),
    (("Licence", "110101199001011237", "standard", "", "examples__biden.jpg", "driving_licence"),
     RowStatus.REJECTED, RejectCode.BAD_ID_TYPE),
    (("Blurred", "11010119991010123X", "standard", "", "blurred.jpg"), RowStatus.REJECTED,
     RejectCode.FACE_POOR_QUALITY),
]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A photo folder: shared face photos, a QR test image (no face) and a truncated JPEG."""
    src = shared("faces", "images")
    d = tmp_path_factory.mktemp("photos")
    for name in ("examples__obama.jpg", "examples__biden.jpg", "examples__alex-lacamoire.png",
                 "examples__two_people.jpg", "tests__obama2.jpg"):
        (d / name).symlink_to(src / name)
    shutil.copy(shared("qr", "qrcode-1", "1.png"), d / "qr-1.png")
    (d / "broken.jpg").write_bytes((src / "examples__biden.jpg").read_bytes()[:300])
    import cv2  # a face found, but too blurred to decide on (sharpness ~10, the bar is 25)

    blurred = cv2.GaussianBlur(cv2.imread(str(src / "examples__obama.jpg")), (0, 0), 8)
    cv2.imwrite(str(d / "blurred.jpg"), blurred)
    return d


def _write_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(registration.COLUMNS)
        w.writerows([(*r, "") if len(r) == 5 else r for r in rows])
    return path


def test_parse_rows_is_pure_and_keyed_by_hmac(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    recs = [{"name": "A", "id_number": "1234-5678 x", "ticket_type": "std", "entrances": "N1; N2", "photo": "a.jpg",
             "id_type": "passport"},
            {"name": "B", "id_number": "12", "ticket_type": "std", "entrances": "", "photo": "a.jpg"},
            {"name": "C", "id_number": "abcde", "ticket_type": "k" * 17, "entrances": "", "photo": "a.jpg",
             "id_type": "passport"}]
    good, bad = registration.parse_rows(recs, tmp_path, SECRET, date(2026, 11, 30))
    assert [(g.line, g.entrances, g.id_last4) for g in good] == [(2, ("N1", "N2"), "678X")]
    assert good[0].id_hmac == registration.id_hmac(SECRET, "12345678X")
    assert good[0].id_hmac != registration.id_hmac(bytes(32), "12345678X")
    assert [(b.line, b.code) for b in bad] == [(3, RejectCode.BAD_ID_NUMBER), (4, RejectCode.BAD_TICKET_TYPE)]


def test_id_secret_file_is_private_and_stable(tmp_path: Path) -> None:
    p = tmp_path / "keys" / "id_hmac.secret"
    a = registration.load_id_secret(p)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600 and len(a) == 32
    assert registration.load_id_secret(p) == a
    p.chmod(0o644)
    with pytest.raises(registration.ConfigError):
        registration.load_id_secret(p)


async def test_import_rejects_exactly_the_bad_rows_and_resumes(conn: asyncpg.Connection, photos: Path,
                                                               tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "reg.csv", [r for r, _, _ in ROWS])
    first = await registration.import_csv(conn, path, photos, event_id=EVENT, secret=SECRET,
                                          photo_key=PHOTO_KEY, batch_size=2, workers=1)
    got = {r.line: (r.status, r.code) for r in first.rows}
    assert got == {i: (status, code) for i, (_, status, code) in enumerate(ROWS, start=2)}
    assert first.as_dict()["imported"] == 3 and first.as_dict()["rejected"] == len(ROWS) - 3
    assert all(r.detail for r in first.rows if r.status is RowStatus.REJECTED)
    by_name = {row[0][0]: line for line, row in enumerate(ROWS, start=2)}
    details = {r.line: r.detail for r in first.rows}
    assert details[by_name["Typo"]] == ("id_number (resident_id): bad_check_digit: the check digit does not "
                                        "match (a digit mistyped?)")
    assert details[by_name["Bad Date"]].startswith("id_number (resident_id): bad_birth_date")
    assert details[by_name["Licence"]].startswith("id_type 'driving_licence': one of resident_id, passport")

    regs = await conn.fetch("SELECT * FROM registrations ORDER BY name")
    assert [(r["name"], r["ticket_type"], list(r["entrances"]), r["id_last4"]) for r in regs] == [
        ("Alex Lacamoire", "standard", ["S1"], "5678"), ("Barack Obama", "vip", ["N1", "N2"], "1237"),
        ("Joe Biden", "standard", [], "2346")]
    # embeddings are stored only sealed (sql/0023): the table holds no float of a face
    assert all(r["encoding"] is None and r["encoding_sealed"] is not None and r["sync_version"] > 0 for r in regs)
    faces = {r["name"]: face_seal.registration_face(PHOTO_KEY, r) for r in regs}
    assert all(v is not None and len(v) == ENGINE.dim for v in faces.values())
    assert {r["model_id"] for r in regs} == {ENGINE.model_id}
    obama = next(r for r in regs if r["name"] == "Barack Obama")
    biden = next(r for r in regs if r["name"] == "Joe Biden")
    assert ENGINE.distance(faces["Barack Obama"], faces["Joe Biden"]) > ENGINE.thresholds.verify
    # the photo is kept, sealed for this row only, and opens to the very bytes imported
    photo = photo_seal.unseal(PHOTO_KEY, obama["photo_sealed"],
                              photo_seal.registration_owner(obama["registration_id"]))
    assert photo == (photos / "examples__obama.jpg").read_bytes()
    with pytest.raises(photo_seal.PhotoSealError):
        photo_seal.unseal(PHOTO_KEY, obama["photo_sealed"], photo_seal.registration_owner(biden["registration_id"]))
    assert np.isclose(np.linalg.norm(faces["Barack Obama"]), 1.0, atol=1e-5)  # SFace: unit length

    # re-running imports nothing twice, and keeps the registration ids
    again = await registration.import_csv(conn, path, photos, event_id=EVENT, secret=SECRET,
                                          photo_key=PHOTO_KEY, workers=1)
    assert again.as_dict()["imported"] == 0 and again.as_dict()["skipped"] == 3
    assert await conn.fetchval("SELECT count(*) FROM registrations") == 3
    assert {r.registration_id for r in again.rows if r.registration_id} == {r["registration_id"] for r in regs}
    # another event is a separate registration list
    other = await registration.import_csv(conn, path, photos, event_id="other-2026", secret=SECRET,
                                          photo_key=PHOTO_KEY, workers=1)
    assert other.as_dict()["imported"] == 3

    # the ID numbers are nowhere in the database in clear: every row of every table as text,
    # searched for the number and for its hex form (how a bytea column prints)
    await conn.execute(_LEAKS_FN)
    for needle in (OBAMA_ID, "110101199202022346", "G12345678"):
        for pattern in (needle, needle.encode().hex()):
            leaks = await conn.fetch(_LEAKS, pattern)
            assert leaks == [], (needle, [r["tablename"] for r in leaks])
    assert len(await conn.fetch(_LEAKS, "Barack Obama")) == 1  # the search itself works


_LEAKS = "SELECT tablename FROM pg_temp.leaks($1) AS tablename"
_LEAKS_FN = """
CREATE FUNCTION pg_temp.leaks(pattern text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE t text; n bigint;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
        EXECUTE format('SELECT count(*) FROM %I x WHERE x::text ILIKE %L', t, '%' || pattern || '%')
            INTO n;
        IF n > 0 THEN RETURN NEXT t; END IF;
    END LOOP;
END $$
"""


async def test_cli_import_issues_bound_tickets(db_url: str, photos: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await issuing.create_key(conn, EVENT, tmp_path / "keys")
    finally:
        await conn.close()
    path = _write_csv(tmp_path / "reg.csv", [r for r, _, _ in ROWS[:4]])
    argv = ["register", "import", str(path), "--photos", str(photos), "--venue", str(DEFAULT_VENUE), "--issue-tickets",
            "--key-dir", str(tmp_path / "keys"), "--database-url", db_url, "--json", "--workers", "2"]
    rc = await asyncio.to_thread(cli.main, argv)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rc == 1  # one row was rejected
    assert lines[-1]["summary"] == {"imported": 3, "skipped": 0, "rejected": 1,
                                    "reasons": {"multiple_faces": 1}, "tickets": 3, "tickets_existing": 0}
    rows = {x["line"]: x for x in lines[:-1]}
    assert rows[5]["code"] == "multiple_faces"
    conn = await asyncpg.connect(db_url)
    try:
        keys = await issuing.public_keys(conn, EVENT)
        for line in (2, 3, 4):
            t, _, _ = tickets.parse(rows[line]["payload"])
            reg = await conn.fetchrow("SELECT * FROM registrations WHERE registration_id = $1", t.holder_ref)
            assert reg is not None and t.holder_ref == rows[line]["registration_id"]
            assert list(t.entrances) == list(reg["entrances"]) and t.kind == reg["ticket_type"]
            check = tickets.verify(rows[line]["payload"], keys=keys, event_id=EVENT,
                                   gate_id=t.entrances[0] if t.entrances else "N1", now=t.valid_from)
            assert check.ok
        # re-run: nothing new, no second ticket; it reports the tickets the registrations hold
        rc = await asyncio.to_thread(cli.main, argv)
        again = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert again[-1]["summary"]["tickets"] == 0 and again[-1]["summary"]["tickets_existing"] == 3
        assert {x["line"]: x.get("ticket_id") for x in again[:-1] if x["status"] == "skipped"} == {
            line: rows[line]["ticket_id"] for line in (2, 3, 4)}
        assert not any(x.get("ticket_issued") for x in again[:-1])
        assert await conn.fetchval("SELECT count(*) FROM tickets") == 3
        assert await conn.fetchval("SELECT count(*) FROM registrations") == 3
        # a revoked ticket's holder gets a new one on the next run with --issue-tickets
        await issuing.revoke(conn, t.ticket_id, "lost")
        await asyncio.to_thread(cli.main, argv)
        assert await conn.fetchval("SELECT count(*) FROM tickets WHERE holder_ref = $1", t.holder_ref) == 2
    finally:
        await conn.close()


async def test_remove_bumps_version(conn: asyncpg.Connection, photos: Path, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "reg.csv", [ROWS[2][0]])
    s = await registration.import_csv(conn, path, photos, event_id=EVENT, secret=SECRET, photo_key=None,
                                      face_key=PHOTO_KEY, workers=1)
    rid = s.rows[0].registration_id
    assert rid is not None
    before = await conn.fetchval("SELECT sync_version FROM registrations")
    held = await registration.holder_encoding(conn, rid, PHOTO_KEY)
    assert held is not None and held[0] == ENGINE.model_id
    assert await conn.fetchval("SELECT photo_sealed FROM registrations") is None  # no key: not kept
    assert await registration.remove(conn, rid)
    assert not await registration.remove(conn, rid)
    assert await conn.fetchval("SELECT sync_version FROM registrations") > before
    assert await registration.holder_encoding(conn, rid, PHOTO_KEY) is None
