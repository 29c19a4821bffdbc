"""The manifest cache: encrypted at rest, bound to its day and device, readable only with the secret."""
import sqlite3
from datetime import date, timedelta

from backend.domain.attendance import lesson_day
from kiosk.manifest_cache import ManifestCache, ManifestProvider, derive_key
from tests.kiosk.kiosk_helpers import DEVICE_ID, LESSON_START, SECRET, FakeClock, make_manifest

DAY = date(2025, 3, 10)


def test_round_trip_and_nothing_readable_on_disk(tmp_path):
    db = tmp_path / "k.sqlite3"
    cache = ManifestCache(db, DEVICE_ID, SECRET, clock=FakeClock(LESSON_START))
    manifest = make_manifest()
    cache.store(DAY, manifest)
    loaded, fetched_at = cache.load(DAY)
    cache.close()
    assert loaded == manifest and fetched_at == LESSON_START
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("k.sqlite3*"))
    for secret_text in ("张三丰", manifest["people"][0]["card_key"], "0.01"):
        assert secret_text.encode() not in raw


def test_other_secret_or_day_does_not_decrypt(tmp_path):
    db = tmp_path / "k.sqlite3"
    cache = ManifestCache(db, DEVICE_ID, SECRET)
    cache.store(DAY, make_manifest())
    cache.close()
    other = ManifestCache(db, DEVICE_ID, "a-rotated-secret")
    assert other.load(DAY) is None
    other.close()
    # Copying a day's blob under another date must fail the associated-data check.
    conn = sqlite3.connect(db)
    conn.execute("UPDATE manifest_cache SET day = ?", ((DAY + timedelta(days=1)).isoformat(),))
    conn.commit()
    conn.close()
    cache = ManifestCache(db, DEVICE_ID, SECRET)
    assert cache.load(DAY + timedelta(days=1)) is None
    cache.close()


def test_key_derivation_is_stable_and_secret_specific():
    assert derive_key(SECRET) == derive_key(SECRET.encode())
    assert len(derive_key(SECRET)) == 32
    assert derive_key(SECRET) != derive_key(SECRET + "x")


def test_prune_and_provider_follow_the_day(tmp_path):
    clock = FakeClock(LESSON_START)
    cache = ManifestCache(tmp_path / "k.sqlite3", DEVICE_ID, SECRET, clock=clock)
    provider = ManifestProvider(cache, clock, lesson_day)
    assert provider() is None
    cache.store(DAY - timedelta(days=1), make_manifest())
    cache.store(DAY, make_manifest())
    manifest = provider()
    assert manifest.day == DAY and set(manifest.people) == {"1", "2"}
    assert cache.prune(DAY) == 1
    clock.advance(86400)  # next day, nothing downloaded yet
    assert provider() is None
    provider.update(DAY + timedelta(days=1), make_manifest())
    assert provider().day == DAY + timedelta(days=1)
    cache.close()
