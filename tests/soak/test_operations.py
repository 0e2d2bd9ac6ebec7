"""Operations, on the served app (gunicorn): /health follows the database, logs are JSON lines.

/health answers 200 {"status": "ok"} while the database answers and 503 while it
does not (SQLite: the database file replaced by something that is not one;
PostgreSQL: the database dropped under the running server), and comes back
when the database does (SQLite). Every request is logged as one JSON line with
its request id, method, path, status, duration and user.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import soaklib


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_health_follows_the_database_and_requests_are_logged_as_json(backend: str, tmp_path: Path) -> None:
    db = soaklib.Database(backend, tmp_path)
    log = tmp_path / "server.log"
    server = soaklib.Server(db.env, log, workers=1)
    try:
        soaklib.cli(db.env, "init", "--protocol", str(soaklib.PROTOCOL_FILE))
        soaklib.cli(
            db.env,
            "user",
            "add",
            "ops-crc",
            "--role",
            "coordinator",
            "--site",
            "MSKCC",
            "--password-stdin",
            stdin=soaklib.PASSWORD,
        )
        server.start()
        status, _, body = soaklib.request(server.port, "GET", "/health")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        session = soaklib.Session("ops-crc")
        session.login(server.port)
        assert session.call(server.port, "GET", "/api/participants")[0] == 200
        assert soaklib.request(server.port, "GET", "/no-such-page")[0] == 404

        if backend == "sqlite":
            database = Path(db.env["ILIAD7_HOME"]) / "iliad7.sqlite3"
            moved = database.with_suffix(".moved")
            database.rename(moved)
            database.mkdir()  # a folder where the database file was: nothing can open it
            status, _, body = soaklib.request(server.port, "GET", "/health")
            assert (status, json.loads(body)) == (503, {"status": "database unavailable"})
            database.rmdir()
            moved.rename(database)
            assert soaklib.request(server.port, "GET", "/health")[0] == 200  # back with its database
        else:
            db._pg_execute(f'DROP DATABASE "{db.pg_name}" WITH (FORCE)')
            status, _, body = soaklib.request(server.port, "GET", "/health")
            assert (status, json.loads(body)) == (503, {"status": "database unavailable"})
    finally:
        server.stop()
        db.close()

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("logger") == "iliad7.request"]
    assert len(requests) >= 5
    for line in requests:
        assert set(line) >= {"time", "level", "request_id", "method", "path", "status", "duration_ms", "user"}
        assert len(line["request_id"]) == 32 and line["duration_ms"] >= 0
    by_path = {(line["method"], line["path"], line["status"]): line for line in requests}
    assert by_path[("GET", "/api/participants", 200)]["user"] == "ops-crc"
    assert by_path[("GET", "/no-such-page", 404)]["user"] is None
    assert ("GET", "/health", 503) in by_path
    assert not any(soaklib.PASSWORD in line for line in log.read_text().splitlines())  # no secret is logged
    shutil.rmtree(tmp_path / "home", ignore_errors=True)
