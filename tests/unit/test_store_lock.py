"""flows/tracking.ensure_store: a new SQLite store opened by many threads at once is created once; a store
in a folder that does not exist is one clear error (exit 2), not a traceback."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from flows import tracking
from mtl_core.errors import UnavailableError


def test_threads_opening_a_fresh_store_create_it_once(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            tracking.ensure_store(uri)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == [] and uri in tracking._READY
    with sqlite3.connect(tmp_path / "mlflow.db") as con:
        assert con.execute("select count(*) from alembic_version").fetchone() == (1,)
    assert (tmp_path / "mlflow.db.init.lock").is_file()


def test_a_store_in_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(UnavailableError, match="does not exist"):
        tracking.ensure_store(f"sqlite:///{tmp_path / 'absent' / 'mlflow.db'}")


def test_other_stores_are_left_to_mlflow():
    tracking.ensure_store("http://127.0.0.1:1")  # a server creates its own store: nothing to do here
    assert "http://127.0.0.1:1" not in tracking._READY
