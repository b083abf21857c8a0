"""Unit tests of core/requestids: signed request ids, and the key a deployment generates for itself."""

from __future__ import annotations

import hashlib
import hmac
import stat
import struct
import subprocess
import sys
import time

import pytest

KEY = b"k" * 32


@pytest.fixture(scope="module")
def ids(module):
    return module("core.requestids").RequestIds(KEY)


def test_an_id_carries_its_time_and_record_count_under_an_hmac_sha256(ids):
    request_id = ids.mint(7, 1796083200.9, nonce=b"\x01" * 8)
    assert len(request_id) == 48 and request_id == request_id.lower()
    body = struct.pack(">II8s", 1796083200, 7, b"\x01" * 8)
    assert request_id == (body + hmac.new(KEY, body, hashlib.sha256).digest()[:8]).hex()  # the documented format
    issued = ids.verify(request_id)
    assert (issued.issued, issued.records) == (1796083200, 7)


def test_ids_are_distinct_and_all_verify(ids):
    minted = [ids.mint(1, time.time()) for _ in range(10_000)]
    assert len(set(minted)) == len(minted)
    assert all(ids.verify(i) is not None for i in minted)


def test_a_tampered_forged_or_foreign_id_does_not_verify(module, ids):
    requestids = module("core.requestids")
    genuine = ids.mint(3, 1796083200)
    for position in range(48):  # any one character changed: time, count, nonce or MAC
        digit = "0" if genuine[position] != "0" else "1"
        assert ids.verify(genuine[:position] + digit + genuine[position + 1 :]) is None
    assert requestids.RequestIds(b"another key of thirty-two bytes!").verify(genuine) is None
    for malformed in ("", "f" * 32, "f" * 47, "z" * 48, genuine.upper(), genuine + "00"):
        assert ids.verify(malformed) is None


def test_minting_is_cheap(ids):
    """On the request path: a few microseconds (measured ~2 µs; the bound leaves room for a busy machine)."""
    started = time.perf_counter()
    for _ in range(20_000):
        ids.mint(1, 1796083200.0)
    per_id_us = (time.perf_counter() - started) / 20_000 * 1e6
    assert per_id_us < 50, f"{per_id_us:.1f} µs per id"


def test_a_configured_key_is_used_and_a_short_one_refused(module, tmp_path):
    requestids = module("core.requestids")
    settings = module("core.settings").Settings(signing_key="s" * 40)
    assert requestids.RequestIds.from_settings(settings, tmp_path).key == b"s" * 40
    assert not (tmp_path / "signing.key").exists()
    with pytest.raises(ValueError, match="32 bytes"):
        requestids.RequestIds(b"short")


def test_workers_starting_together_generate_one_key_readable_only_by_its_owner(module, tmp_path):
    """Six processes ask for the key at once (as a deployment's workers start): one key, mode 0600."""
    requestids = module("core.requestids")
    folder = tmp_path / "monitoring"
    script = (
        f"import sys, pathlib, {requestids.__name__} as r;"
        " sys.stdout.write(r.local_key(pathlib.Path(sys.argv[1])).hex())"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script, str(folder)], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    keys = {bytes.fromhex(worker.communicate(timeout=60)[0]) for worker in workers}
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    path = folder / "signing.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["signing.key"]  # no draft left behind
    settings = module("core.settings").Settings()
    assert requestids.RequestIds.from_settings(settings, folder).key == next(iter(keys))


def test_a_damaged_key_file_names_the_fix(module, tmp_path):
    (tmp_path / "signing.key").write_text("short\n")
    with pytest.raises(SystemExit, match="delete it"):
        module("core.requestids").local_key(tmp_path)
