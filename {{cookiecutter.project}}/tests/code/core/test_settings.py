"""Unit tests of core/settings: every MODELOPS_* variable, from the environment or a `.env` file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest


@pytest.fixture
def settings(pkg):
    return pkg.core.settings


def test_settings_defaults(settings, isolated):
    read = settings.Settings.from_env()
    assert read.log_level == "INFO" and read.dvc_remote is None and read.api_key is None


def test_settings_bad_log_level_names_the_variable(settings, isolated):
    with pytest.raises(settings.SettingsError, match="MODELOPS_LOG_LEVEL='LOUD'") as raised:
        settings.Settings.from_env({"MODELOPS_LOG_LEVEL": "loud"})
    assert isinstance(raised.value, SystemExit)


def test_settings_read_the_env_file_and_the_environment_wins(settings, isolated):
    in_file, in_env = "value-from-file", "value-from-env"
    (isolated / ".env").write_text(
        f"# comment\n\nMODELOPS_LOG_LEVEL=debug\nMODELOPS_DVC_REMOTE='/srv/dvc'\nMODELOPS_API_KEY={in_file}\n"
    )
    from_file = settings.Settings.from_env({})
    assert (from_file.log_level, from_file.dvc_remote, from_file.api_key) == ("DEBUG", "/srv/dvc", in_file)
    overridden = settings.Settings.from_env({"MODELOPS_API_KEY": in_env, "MODELOPS_LOG_LEVEL": "error"})
    assert (overridden.log_level, overridden.dvc_remote, overridden.api_key) == ("ERROR", "/srv/dvc", in_env)


def test_settings_reads_os_environ_by_default(settings, isolated, monkeypatch):
    monkeypatch.setenv("MODELOPS_LOG_LEVEL", "warning")
    assert settings.Settings.from_env().log_level == "WARNING"


def test_settings_malformed_env_file_line_is_named(settings, isolated):
    (isolated / ".env").write_text("MODELOPS_LOG_LEVEL=INFO\nnot a setting\n")
    with pytest.raises(settings.SettingsError, match=r"\.env:2"):
        settings.Settings.from_env({})


def test_settings_repr_hides_the_secrets(settings):
    shown = repr(settings.Settings(api_key="k-1", feedback_tokens=(("lab", "fb-2"),), log_hash_salt="salt-3"))
    assert "k-1" not in shown and "fb-2" not in shown and "salt-3" not in shown


def test_settings_repr_hides_the_api_key(settings):
    hidden = "value-that-must-not-be-logged"
    read = settings.Settings(api_key=hidden)
    assert hidden not in repr(read)
    assert hidden not in str(read)


@pytest.mark.parametrize("name", ["MODELOPS_WORKERS", "MODELOPS_MAX_RECORDS", "MODELOPS_MAX_BODY_BYTES"])
@pytest.mark.parametrize("value", ["0", "abc", "-1", "1.5"])
def test_settings_counts_must_be_positive_whole_numbers(settings, isolated, name, value):
    with pytest.raises(settings.SettingsError, match=f"{name}='{value}'"):
        settings.Settings.from_env({name: value})


def test_settings_service_values_and_defaults(settings, isolated):
    environ = {"MODELOPS_WORKERS": "4", "MODELOPS_MAX_RECORDS": "50", "MODELOPS_ACCESS_LOG": "Yes"}
    read = settings.Settings.from_env({**environ, "MODELOPS_MAX_BODY_BYTES": " "})
    assert (read.workers, read.max_records, read.access_log) == (4, 50, True)
    assert read.max_body_bytes == settings.Settings().max_body_bytes  # blank means the default


def test_settings_flags_must_be_true_or_false(settings, isolated):
    with pytest.raises(settings.SettingsError, match="MODELOPS_METRICS='maybe'"):
        settings.Settings.from_env({"MODELOPS_METRICS": "maybe"})


def test_settings_read_the_api_key_from_a_file(settings, isolated):
    mounted, from_env = "value-from-a-mounted-file", "value-from-the-environment"
    (isolated / "mounted").write_text(mounted + "\n")
    variables = {"MODELOPS_API_KEY_FILE": str(isolated / "mounted")}
    read = settings.Settings.from_env(variables)
    assert read.api_key == mounted
    assert mounted not in repr(read)
    with pytest.raises(settings.SettingsError, match="both MODELOPS_API_KEY and MODELOPS_API_KEY_FILE are set"):
        settings.Settings.from_env({**variables, "MODELOPS_API_KEY": from_env})


@pytest.mark.parametrize("name", ["API_KEY", "FEEDBACK_TOKENS", "SIGNING_KEY", "DATABASE_URL", "LOG_HASH_SALT"])
def test_an_empty_secret_file_refuses_to_start_instead_of_turning_the_check_off(settings, isolated, name):
    (isolated / "empty").write_text("\n")
    with pytest.raises(settings.SettingsError, match=f"MODELOPS_{name}_FILE=.* is empty"):
        settings.Settings.from_env({f"MODELOPS_{name}_FILE": str(isolated / "empty")})
    assert name in settings.SECRETS


def test_hashing_needs_a_salt_of_32_bytes_and_keys_are_32_bytes(settings, isolated):
    with pytest.raises(settings.SettingsError, match="MODELOPS_LOG_HASH is set but MODELOPS_LOG_HASH_SALT is not"):
        settings.Settings.from_env({"MODELOPS_LOG_HASH": "age"})
    with pytest.raises(settings.SettingsError, match="MODELOPS_LOG_HASH_SALT is 5 bytes, fewer than 32"):
        settings.Settings.from_env({"MODELOPS_LOG_HASH": "age", "MODELOPS_LOG_HASH_SALT": "short"})
    with pytest.raises(settings.SettingsError, match="MODELOPS_SIGNING_KEY is 5 bytes, fewer than 32"):
        settings.Settings.from_env({"MODELOPS_SIGNING_KEY": "short"})
    url = "postgresql://modelops@db/labels"
    read = settings.Settings.from_env({"MODELOPS_DATABASE_URL": url})  # the monitor reads labels without signing
    assert read.database_url == url and url not in repr(read)


def test_a_service_with_a_shared_database_needs_the_signing_key_every_replica_shares(pkg, isolated):
    with_database = pkg.core.settings.Settings(database_url="postgresql://modelops@db/labels")
    with pytest.raises(SystemExit, match="MODELOPS_DATABASE_URL is set but MODELOPS_SIGNING_KEY is not"):
        pkg.core.requestids.RequestIds.from_settings(with_database, isolated)
    assert not (isolated / "signing.key").exists()  # no key of its own generated


def test_settings_missing_api_key_file_is_named(settings, isolated):
    missing = "nowhere/mounted"
    with pytest.raises(settings.SettingsError, match=f"MODELOPS_API_KEY_FILE={missing!r} is not a file"):
        settings.Settings.from_env({"MODELOPS_API_KEY_FILE": missing})


# Every variable of .env.example: a value that is not its default, and what Settings must read from it.
# A variable added to .env.example without a row here fails the test below.
EXAMPLES = {
    "MODELOPS_LOG_LEVEL": ("warning", "log_level", "WARNING"),
    "MODELOPS_DVC_REMOTE": ("/srv/dvc-store", "dvc_remote", "/srv/dvc-store"),
    "MODELOPS_API_KEY": ("key-0123456789", "api_key", "key-0123456789"),
    "MODELOPS_API_KEY_FILE": ("{tmp}/key.txt", "api_key", "key-from-a-mounted-file-0123456789"),
    "MODELOPS_WORKERS": ("3", "workers", 3),
    "MODELOPS_MAX_RECORDS": ("7", "max_records", 7),
    "MODELOPS_MAX_BODY_BYTES": ("4096", "max_body_bytes", 4096),
    "MODELOPS_ACCESS_LOG": ("true", "access_log", True),
    "MODELOPS_METRICS": ("true", "metrics", True),
    "MODELOPS_MONITORING_DIR": ("/var/lib/modelops", "monitoring_dir", Path("/var/lib/modelops")),
    "MODELOPS_PREDICTION_LOG": ("false", "prediction_log", False),
    "MODELOPS_LOG_RETENTION_DAYS": ("7", "log_retention_days", 7),
    "MODELOPS_LOG_DROP": ("b, a,a", "log_drop", ("a", "b")),
    "MODELOPS_LOG_HASH": ("email", "log_hash", ("email",)),
    "MODELOPS_LOG_HASH_SALT": ("pepper" * 6, "log_hash_salt", "pepper" * 6),
    "MODELOPS_LOG_HASH_SALT_FILE": ("{tmp}/key.txt", "log_hash_salt", "key-from-a-mounted-file-0123456789"),
    "MODELOPS_LOG_SINK": ("s3://bucket/logs/production/", "log_sink", "s3://bucket/logs/production"),
    "MODELOPS_LOG_SEGMENT_SECONDS": ("5", "log_segment_seconds", 5),
    "MODELOPS_LOG_SEGMENT_MB": ("2", "log_segment_mb", 2),
    "MODELOPS_LOG_BUFFER_MB": ("64", "log_buffer_mb", 64),
    "MODELOPS_FEEDBACK_TOKENS": (
        "simulator=fb-0123456789abcdef, annotators=fb-fedcba9876543210",
        "feedback_tokens",
        (("annotators", "fb-fedcba9876543210"), ("simulator", "fb-0123456789abcdef")),
    ),
    "MODELOPS_FEEDBACK_TOKENS_FILE": (
        "{tmp}/tokens.txt",
        "feedback_tokens",
        (("annotators", "token-of-the-annotators-0123"), ("simulator", "token-of-the-simulator-4567")),
    ),
    "MODELOPS_DATABASE_URL": ("postgresql://db/labels", "database_url", "postgresql://db/labels"),
    "MODELOPS_DATABASE_URL_FILE": ("{tmp}/key.txt", "database_url", "key-from-a-mounted-file-0123456789"),
    "MODELOPS_SIGNING_KEY": ("s" * 32, "signing_key", "s" * 32),
    "MODELOPS_SIGNING_KEY_FILE": ("{tmp}/key.txt", "signing_key", "key-from-a-mounted-file-0123456789"),
}
# What a variable needs beside it for the settings to be read (a hash needs its salt).
COMPANIONS = {"MODELOPS_LOG_HASH": {"MODELOPS_LOG_HASH_SALT": "pepper" * 6}}


def example_variables(root) -> list[str]:
    lines = (root / ".env.example").read_text().splitlines()
    return [line.partition("=")[0] for line in lines if "=" in line and not line.startswith("#")]


def test_every_variable_of_env_example_has_a_case_here(root):
    assert sorted(example_variables(root)) == sorted(EXAMPLES)


@pytest.mark.parametrize("where", ["env-file", "environment"])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_variable_of_env_example_works_from_env_file_and_environment(settings, isolated, name, where):
    raw, attribute, expected = EXAMPLES[name]
    (isolated / "key.txt").write_text("key-from-a-mounted-file-0123456789\n")
    (isolated / "tokens.txt").write_text(
        "simulator=token-of-the-simulator-4567\nannotators=token-of-the-annotators-0123\n"
    )
    value = raw.format(tmp=isolated)
    assert getattr(settings.Settings(), attribute) != expected  # the example is not the default
    variables = {name: value, **COMPANIONS.get(name, {})}
    if where == "env-file":
        (isolated / ".env").write_text("".join(f"{k}={v}\n" for k, v in variables.items()))
        read = settings.Settings.from_env({})
    else:
        read = settings.Settings.from_env(variables)
    assert getattr(read, attribute) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no-equals-sign-0123456789", "entry 1 is not `source=token`"),
        ("lab=ok-token-0123456789,bad name=token-0123456789abc", "entry 2 is not `source=token`"),
        ("lab=short", "the token of source 'lab' is shorter than 16 bytes"),
        ("lab=token-0123456789abc,lab=token-0123456789xyz", "names source 'lab' twice"),
        ("lab=token-0123456789abc,other=token-0123456789abc", "source 'other' shares its token"),
    ],
)
def test_feedback_tokens_are_one_valid_source_and_token_each_and_errors_never_show_a_token(settings, value, message):
    with pytest.raises(settings.SettingsError, match=re.escape(message)) as refused:
        settings.Settings.from_env({"MODELOPS_FEEDBACK_TOKENS": value})
    assert "0123456789" not in str(refused.value) and "short" not in str(refused.value).replace("shorter", "")


@pytest.mark.parametrize("name", ["MODELOPS_FEEDBACK_TOKEN", "MODELOPS_FEEDBACK_TOKEN_FILE"])
def test_the_single_feedback_token_of_old_is_refused_naming_its_replacement(settings, name):
    with pytest.raises(settings.SettingsError, match="replaced by MODELOPS_FEEDBACK_TOKENS") as refused:
        settings.Settings.from_env({name: "an-old-token-0123456789"})
    assert "an-old-token-0123456789" not in str(refused.value)
