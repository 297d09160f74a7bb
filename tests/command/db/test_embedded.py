"""The embedded PostgreSQL trusts nobody: SCRAM passwords everywhere, the password file and
socket folder closed to other users, and the command server's role without superuser, unable
to empty the audit log or plant a signing key, an operator or a gate token."""

from __future__ import annotations

import os
import stat

import asyncpg
import pytest

from command.db.embedded import APP_ROLE, EmbeddedPostgres


async def test_connecting_without_the_password_fails(pg: EmbeddedPostgres) -> None:
    for user in ("postgres", APP_ROLE):
        with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
            await asyncpg.connect(f"postgresql://{user}@127.0.0.1:{pg.port}/postgres", password="")
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(f"postgresql://{user}:wrong@127.0.0.1:{pg.port}/postgres")
    # nor through the unix socket (it used to be `trust` too)
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(host=str(pg.datadir), port=pg.port, user="postgres", password="wrong",
                              database="postgres")
    hba = [line.split() for line in (pg.datadir / "pg_hba.conf").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    assert hba and all(r[-1] == "scram-sha-256" for r in hba)


def test_secrets_and_socket_folder_are_closed_to_other_users(pg: EmbeddedPostgres) -> None:
    assert stat.S_IMODE(pg.secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(pg.datadir.stat().st_mode) == 0o700  # holds the unix socket
    assert f"@127.0.0.1:{pg.port}/" in pg.dsn("x") and ":" in pg.dsn("x").split("@")[0][13:]


async def test_the_app_role_is_not_superuser_and_keeps_to_its_grants(db_url: str, pg: EmbeddedPostgres) -> None:
    app = await asyncpg.connect(pg.app_dsn(db_url.rsplit("/", 1)[1]))
    try:
        assert await app.fetchval("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles"
                                  " WHERE rolname = current_user") is False
        await app.execute("INSERT INTO audit_log (actor, role, action) VALUES ('a', 'commander', 'login')")
        assert await app.fetchval("SELECT count(*) FROM audit_log") == 1
        for sql in ("TRUNCATE audit_log", "UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log",
                    "INSERT INTO event_keys (event_id, key_id, public_key) VALUES ('e', 9, '\\x"
                    + "00" * 32 + "')",
                    "INSERT INTO operators (username, password_hash, role) VALUES ('evil', 'x', 'commander')",
                    "UPDATE operators SET role = 'commander'",
                    "INSERT INTO gate_credentials (gate_id, token_hash) VALUES ('N1', '\\x00')",
                    "DELETE FROM gate_events", "CREATE TABLE planted (x int)", "ALTER TABLE audit_log DISABLE TRIGGER ALL",
                    "COPY audit_log TO PROGRAM 'id'"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(sql)
        assert await app.fetchval("SELECT count(*) FROM audit_log") == 1
    finally:
        await app.close()


async def test_truncate_on_the_audit_log_is_refused_even_for_its_owner(conn: asyncpg.Connection) -> None:
    await conn.execute("INSERT INTO audit_log (actor, role, action) VALUES ('a', 'commander', 'login')")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await conn.execute("TRUNCATE audit_log")
    assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1


async def test_a_trusting_cluster_of_an_older_version_is_converted(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A data dir initialised with `trust` (what this project did before) gets a password,
    SCRAM in pg_hba and the app role on its next start."""
    import shutil
    import tempfile
    from pathlib import Path

    from command.db.embedded import _open_path_for, free_port

    root = Path(tempfile.mkdtemp(prefix="eventguard-test-pg-old-"))  # reachable by the server user
    old = EmbeddedPostgres(root / "data", port=free_port())
    try:
        old.datadir.mkdir()
        if old._user is not None:
            _open_path_for(old.datadir, old._user.pw_uid)
            shutil.chown(old.datadir, old._user.pw_uid, old._user.pw_gid)
        old.datadir.chmod(0o700)
        r = old._run([str(old.bindir / "initdb"), "-D", str(old.datadir), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--no-instructions"], timeout=120)
        assert r.returncode == 0, r.stderr
        assert not old.secret_file.exists()
        old.start()
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(f"postgresql://postgres:wrong@127.0.0.1:{old.port}/postgres")
        c = await asyncpg.connect(old.app_dsn("postgres"))
        await c.close()
        assert stat.S_IMODE(os.stat(old.secret_file).st_mode) == 0o600
    finally:
        old.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
