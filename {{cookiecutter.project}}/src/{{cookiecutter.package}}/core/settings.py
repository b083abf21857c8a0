"""Runtime settings from the environment (or a `.env` file), validated at start."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import paths

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
PREFIX = "MODELOPS_"
# The settings that are secrets: read from `<NAME>` or from the file `<NAME>_FILE` names (a mounted
# Kubernetes Secret); the manifests check refuses a literal value of any of them.
SECRETS = ("API_KEY", "FEEDBACK_TOKENS", "SIGNING_KEY", "DATABASE_URL", "LOG_HASH_SALT")
MIN_KEY_BYTES = 32  # the signing key and the hash salt: HMAC keys of at least SHA-256's output size
MIN_TOKEN_BYTES = 16  # a feedback token: long enough that guessing one is not an attack
SOURCE = r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$"  # a labelling source's name, as stored beside its labels


class SettingsError(SystemExit):
    """A setting has a value the project cannot use; the message names the fix."""


@dataclass(frozen=True)
class Settings:
    """Every environment variable the project reads; `.env.example` documents each."""

    log_level: str = "INFO"
    dvc_remote: str | None = None
    api_key: str | None = field(default=None, repr=False)
    workers: int = 2
    max_records: int = 1000
    max_body_bytes: int = 1_000_000
    access_log: bool = False
    metrics: bool = False
    monitoring_dir: Path = Path("monitoring")
    prediction_log: bool = True
    log_retention_days: int = 30
    log_drop: tuple[str, ...] = ()
    log_hash: tuple[str, ...] = ()
    log_hash_salt: str = field(default="", repr=False)
    feedback_tokens: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (source, token) pairs
    signing_key: str | None = field(default=None, repr=False)
    database_url: str | None = field(default=None, repr=False)
    log_sink: str | None = None
    log_segment_seconds: int = 60
    log_segment_mb: int = 16
    log_buffer_mb: int = 256

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | str = paths.ENV_FILE) -> Settings:
        """Read `MODELOPS_*` variables; the environment wins over the `.env` file."""
        values = {**read_env_file(Path(env_file)), **(os.environ if environ is None else environ)}
        log_level = values.get(f"{PREFIX}LOG_LEVEL", "INFO").strip().upper()
        if log_level not in LOG_LEVELS:
            raise SettingsError(
                f"error: {PREFIX}LOG_LEVEL={log_level!r} is not one of {', '.join(LOG_LEVELS)}"
                " — fix it in the environment or in .env (see .env.example)"
            )
        return cls(
            log_level=log_level,
            dvc_remote=values.get(f"{PREFIX}DVC_REMOTE") or None,
            api_key=_secret(values, f"{PREFIX}API_KEY"),
            workers=_positive_int(values, f"{PREFIX}WORKERS", 2),
            max_records=_positive_int(values, f"{PREFIX}MAX_RECORDS", 1000),
            max_body_bytes=_positive_int(values, f"{PREFIX}MAX_BODY_BYTES", 1_000_000),
            access_log=_flag(values, f"{PREFIX}ACCESS_LOG", False),
            metrics=_flag(values, f"{PREFIX}METRICS", False),
            monitoring_dir=Path(values.get(f"{PREFIX}MONITORING_DIR", "").strip() or "monitoring"),
            prediction_log=_flag(values, f"{PREFIX}PREDICTION_LOG", True),
            log_retention_days=_positive_int(values, f"{PREFIX}LOG_RETENTION_DAYS", 30),
            log_drop=_names(values, f"{PREFIX}LOG_DROP"),
            log_hash=_names(values, f"{PREFIX}LOG_HASH"),
            log_hash_salt=_key(values, f"{PREFIX}LOG_HASH_SALT", needed_by=f"{PREFIX}LOG_HASH") or "",
            feedback_tokens=_feedback_tokens(values),
            database_url=_secret(values, f"{PREFIX}DATABASE_URL"),
            signing_key=_key(values, f"{PREFIX}SIGNING_KEY"),  # the service needs it with a database (requestids)
            log_sink=values.get(f"{PREFIX}LOG_SINK", "").strip().rstrip("/") or None,
            log_segment_seconds=_positive_int(values, f"{PREFIX}LOG_SEGMENT_SECONDS", 60),
            log_segment_mb=_positive_int(values, f"{PREFIX}LOG_SEGMENT_MB", 16),
            log_buffer_mb=_positive_int(values, f"{PREFIX}LOG_BUFFER_MB", 256),
        )


def _positive_int(values: Mapping[str, str], name: str, default: int) -> int:
    raw = values.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"error: {name}={raw!r} must be a whole number ≥ 1 — fix it in the environment or .env")
    return int(raw)


def _names(values: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list of input field names (checked against the schema when the service starts)."""
    return tuple(sorted({part.strip() for part in values.get(name, "").split(",") if part.strip()}))


def _flag(values: Mapping[str, str], name: str, default: bool) -> bool:
    raw = values.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("1", "0", "true", "false", "yes", "no"):
        raise SettingsError(f"error: {name}={raw!r} must be true or false — fix it in the environment or .env")
    return raw in ("1", "true", "yes")


def _secret(values: Mapping[str, str], name: str) -> str | None:
    """A secret from the environment, or from the file named by <NAME>_FILE (a mounted secret).

    Both set is ambiguous and an empty file is a broken mount: either refuses to start, since
    silently running without the secret would turn its check off.
    """
    direct, file = values.get(name, "").strip(), values.get(f"{name}_FILE", "").strip()
    if direct and file:
        raise SettingsError(f"error: both {name} and {name}_FILE are set — keep one of them")
    if direct:
        return direct
    if file:
        path = Path(file)
        if not path.is_file():
            raise SettingsError(f"error: {name}_FILE={file!r} is not a file — mount the secret there or unset it")
        secret = path.read_text().strip()
        if not secret:
            raise SettingsError(f"error: {name}_FILE={file!r} is empty — fill the Secret, or unset {name}_FILE")
        return secret
    return None


def _feedback_tokens(values: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """MODELOPS_FEEDBACK_TOKENS: one `source=token` per labelling source, by commas or lines (a mounted
    Secret's file): the server stores each label under the source whose token sent it."""
    name = f"{PREFIX}FEEDBACK_TOKENS"
    old = f"{PREFIX}FEEDBACK_TOKEN"
    if values.get(old, "").strip() or values.get(f"{old}_FILE", "").strip():
        raise SettingsError(
            f"error: {old} is replaced by {name} (one `source=token` per labelling source, the source set from"
            f" the token) — rename it, e.g. {name}=labellers=<the token>"
        )
    raw = _secret(values, name) or ""
    pairs: dict[str, str] = {}
    for number, entry in enumerate((e.strip() for e in raw.replace("\n", ",").split(",")), start=1):
        if not entry:
            continue
        source, sep, token = (part.strip() for part in entry.partition("="))
        if not sep or not re.fullmatch(SOURCE, source):  # the message names the entry, never its token
            raise SettingsError(
                f"error: {name} entry {number} is not `source=token` with a source name matching {SOURCE}"
                " — fix it (one `source=token` per labelling source)"
            )
        if len(token.encode()) < MIN_TOKEN_BYTES:
            raise SettingsError(
                f"error: {name}: the token of source {source!r} is shorter than {MIN_TOKEN_BYTES} bytes — generate"
                " one with `python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        if source in pairs:
            raise SettingsError(f"error: {name} names source {source!r} twice — keep one token per source")
        if token in pairs.values():
            raise SettingsError(f"error: {name}: source {source!r} shares its token with another — one each")
        pairs[source] = token
    return tuple(sorted(pairs.items()))


def _key(values: Mapping[str, str], name: str, needed_by: str | None = None) -> str | None:
    """A secret used as an HMAC key: at least MIN_KEY_BYTES long, and present when `needed_by` is set."""
    key = _secret(values, name)
    fix = f"generate one with `python -c 'import secrets; print(secrets.token_hex(32))'` into {name} or {name}_FILE"
    needed = needed_by and (values.get(needed_by, "").strip() or values.get(f"{needed_by}_FILE", "").strip())
    if key is None and needed:
        raise SettingsError(f"error: {needed_by} is set but {name} is not — {fix}")
    if key is not None and len(key.encode()) < MIN_KEY_BYTES:
        raise SettingsError(f"error: {name} is {len(key.encode())} bytes, fewer than {MIN_KEY_BYTES} — {fix}")
    return key


def read_env_file(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines of a `.env` file; blank lines and # comments are skipped."""
    if not path.is_file():
        return {}
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"error: {path}:{number} is not KEY=VALUE — fix or remove that line")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]  # one matching pair of quotes
        values[key.strip()] = value
    return values


def configure_logging(settings: Settings) -> None:
    """One log format for every command: time, stage, message."""
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
