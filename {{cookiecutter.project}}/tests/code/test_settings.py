"""Unit tests of settings, records and the shared command-line helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_settings_defaults(pkg, isolated):
    settings = pkg.settings.Settings.from_env()
    assert settings.log_level == "INFO" and settings.dvc_remote is None and settings.api_key is None


def test_settings_bad_log_level_names_the_variable(pkg, isolated):
    with pytest.raises(pkg.settings.SettingsError, match="MODELOPS_LOG_LEVEL='LOUD'") as raised:
        pkg.settings.Settings.from_env({"MODELOPS_LOG_LEVEL": "loud"})
    assert isinstance(raised.value, SystemExit)


def test_settings_read_the_env_file_and_the_environment_wins(pkg, isolated):
    in_file, in_env = "value-from-file", "value-from-env"
    (isolated / ".env").write_text(
        f"# comment\n\nMODELOPS_LOG_LEVEL=debug\nMODELOPS_DVC_REMOTE='/srv/dvc'\nMODELOPS_API_KEY={in_file}\n"
    )
    from_file = pkg.settings.Settings.from_env({})
    assert (from_file.log_level, from_file.dvc_remote, from_file.api_key) == ("DEBUG", "/srv/dvc", in_file)
    overridden = pkg.settings.Settings.from_env({"MODELOPS_API_KEY": in_env, "MODELOPS_LOG_LEVEL": "error"})
    assert (overridden.log_level, overridden.dvc_remote, overridden.api_key) == ("ERROR", "/srv/dvc", in_env)


def test_settings_reads_os_environ_by_default(pkg, isolated, monkeypatch):
    monkeypatch.setenv("MODELOPS_LOG_LEVEL", "warning")
    assert pkg.settings.Settings.from_env().log_level == "WARNING"


def test_settings_malformed_env_file_line_is_named(pkg, isolated):
    (isolated / ".env").write_text("MODELOPS_LOG_LEVEL=INFO\nnot a setting\n")
    with pytest.raises(pkg.settings.SettingsError, match=r"\.env:2"):
        pkg.settings.Settings.from_env({})


def test_settings_repr_hides_the_api_key(pkg):
    hidden = "value-that-must-not-be-logged"
    settings = pkg.settings.Settings(api_key=hidden)
    assert hidden not in repr(settings)
    assert hidden not in str(settings)


@pytest.mark.parametrize(("reader", "stage"), [("read_json", "prepare"), ("read_table", "ingest")])
def test_missing_record_names_the_stage_to_run(pkg, isolated, reader, stage):
    with pytest.raises(SystemExit, match=f"no data/x — run `dvc repro {stage}`"):
        getattr(pkg.records, reader)("data/x", stage)


def test_write_json_is_sorted_and_takes_numpy_values(pkg, isolated):
    path = pkg.records.write_json("reports/r.json", {"b": np.int64(2), "a": np.float64(0.5), "p": pkg.paths.RAW})
    text = path.read_text()
    assert json.loads(text) == {"a": 0.5, "b": 2, "p": str(pkg.paths.RAW)}
    assert text.index('"a"') < text.index('"b"')
    assert pkg.records.read_json(path, "any") == json.loads(text)


def test_write_json_rejects_what_json_cannot_hold(pkg, isolated):
    with pytest.raises(TypeError, match="set"):
        pkg.records.write_json("r.json", {"a": {1, 2}})


def test_sha256_file(pkg, isolated):
    (isolated / "f").write_bytes(b"abc")
    assert pkg.records.sha256_file("f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_load_params_and_criteria_missing_say_what_to_do(pkg, isolated):
    with pytest.raises(SystemExit, match="repository root"):
        pkg.cli.load_params("params.yaml")
    with pytest.raises(SystemExit, match="git checkout"):
        pkg.cli.load_criteria("docs/criteria.yaml")
