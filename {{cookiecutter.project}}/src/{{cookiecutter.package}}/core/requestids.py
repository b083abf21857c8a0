"""Request ids any replica can verify: what feedback needs to check an id travels in the id, signed.

An id is 48 lowercase hex characters, 24 bytes:

    issued (4, unix seconds) | records (4) | nonce (8, os.urandom) | MAC (8)

big-endian, the MAC being the first 8 bytes of HMAC-SHA256(signing key, the first 16 bytes). A
replica that holds the key checks an id issued by any other — that it was issued here, how many
records its request had, when — with no shared index, no database read and no lookup.

Why these sizes:
- nonce, 64 bits: ids collide only when two share the second, the record count and the nonce. At
  1,000 requests/s across all replicas, the chance of any collision in a second is about
  1000² / 2⁶⁵ ≈ 3·10⁻¹⁴; over 30 days (the default retention) 7·10⁻⁸, over ten years 10⁻⁵.
  A collision would join two requests' log rows and let one label stand for both; 48 bits would
  make it likely (0.5 % a month), 64 makes it negligible.
- MAC, 64 bits: a forger who holds the feedback token guesses a valid id with probability 2⁻⁶⁴
  per try; at the service's ~10³ tries/s that is one success in ~6·10⁸ years. A forged id would
  only add a label that joins no logged record (training reads labels joined to the log), so the
  MAC guards the store against junk rather than the model against poison: 64 bits is ample.
- issued, seconds to 2106: enough to refuse ids older than the retention; records up to 2³² − 1.
Minting costs 2–5 µs on a busy 2-core machine (one os.urandom, one HMAC from a precomputed key
state; the former unsigned 128-bit id cost 0.5–1 µs): well under 1 % of a request.

The key is `MODELOPS_SIGNING_KEY` (a Secret, the same for every replica; required with a shared
database). Without one — the laptop — the service creates a random key once in
`<monitoring dir>/signing.key` (mode 0600, created atomically, so every worker of the deployment
uses the same). Rotating the key makes the ids issued before unverifiable: their feedback gets 404.
"""

from __future__ import annotations

import hmac
import os
import secrets
import struct
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

from .settings import MIN_KEY_BYTES, PREFIX, Settings, SettingsError

KEY_FILE = "signing.key"
LENGTH = 48  # hex characters
PATTERN = r"^[0-9a-f]{48}$"  # LENGTH lowercase hex characters
_BODY = struct.Struct(">II8s")
_MAC_BYTES = 8
MAX_RECORDS = 2**32 - 1


@dataclass(frozen=True)
class Issued:
    """What a verified id says about its request."""

    issued: int  # unix seconds
    records: int


@dataclass(frozen=True)
class RequestIds:
    """Mints and verifies request ids with one signing key."""

    key: bytes = field(repr=False)
    _state: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise ValueError(f"a signing key needs at least {MIN_KEY_BYTES} bytes, got {len(self.key)}")
        object.__setattr__(self, "_state", hmac.new(self.key, digestmod=sha256))

    @classmethod
    def ephemeral(cls) -> RequestIds:
        """A random key for this process alone (tests, a runtime without feedback)."""
        return cls(secrets.token_bytes(32))

    @classmethod
    def from_settings(cls, settings: Settings, folder: Path) -> RequestIds:
        """The configured key, or the deployment's generated one in `folder` — not with a shared database:
        replicas that each generated a key could not check each other's ids."""
        require_shared_key(settings)
        if settings.signing_key:
            return cls(settings.signing_key.encode())
        return cls(local_key(folder))

    def _mac(self, body: bytes) -> bytes:
        state = self._state.copy()
        state.update(body)
        return state.digest()[:_MAC_BYTES]

    def mint(self, records: int, issued: float, nonce: bytes | None = None) -> str:
        """A new id for a request of `records` records answered at `issued` (unix time)."""
        body = _BODY.pack(int(issued), min(records, MAX_RECORDS), nonce or os.urandom(8))
        return (body + self._mac(body)).hex()

    def verify(self, request_id: str) -> Issued | None:
        """What the id says, or None when this key did not sign it (forged, altered, another key)."""
        if len(request_id) != LENGTH:
            return None
        try:
            raw = bytes.fromhex(request_id)
        except ValueError:
            return None
        if raw.hex() != request_id:
            return None  # one spelling per id (lowercase): another would label the same record twice
        body, mac = raw[: _BODY.size], raw[_BODY.size :]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        issued, records, _ = _BODY.unpack(body)
        return Issued(issued, records)


def require_shared_key(settings: Settings) -> None:
    """A service with a shared database needs the configured key: replicas that each generated a key of
    their own could not check each other's ids. Raises the SettingsError that names the fix."""
    if settings.database_url and not settings.signing_key:
        raise SettingsError(
            f"error: {PREFIX}DATABASE_URL is set but {PREFIX}SIGNING_KEY is not — every replica must sign request"
            f" ids with one key: generate one with `python -c 'import secrets; print(secrets.token_hex(32))'`"
            f" into {PREFIX}SIGNING_KEY or {PREFIX}SIGNING_KEY_FILE"
        )


def local_key(folder: Path) -> bytes:
    """The key in `folder/signing.key`, created once (0600, atomically) by whichever worker comes first."""
    path = folder / KEY_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        draft = folder / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(draft, path)  # atomic, and fails when another worker won: then read theirs
            except FileExistsError:
                pass
        finally:
            draft.unlink(missing_ok=True)
    key = path.read_text().strip().encode()
    if len(key) < MIN_KEY_BYTES:
        raise SettingsError(
            f"error: {path} holds {len(key)} bytes, fewer than {MIN_KEY_BYTES} — delete it (a new one is made)"
            " or set MODELOPS_SIGNING_KEY"
        )
    return key
