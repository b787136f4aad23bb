import dataclasses
import sqlite3

import pytest

from codegen_lsp.cache import CacheKey, CompletionCache

KEY = CacheKey(model_id="tiny:abc123", adapter_hash="", fim_format="codegen",
               prompt="<|cg_fim_prefix|>def add(a, b):\n<|cg_fim_suffix|>\n<|cg_fim_middle|>",
               generation=(("max_new_tokens", 64), ("stop", ()), ("single_line", False),
                           ("temperature", 0.0), ("top_p", 0.95)))


@pytest.fixture
def cache(tmp_path):
    c = CompletionCache(tmp_path / "completions", size_limit_mb=16)
    yield c
    c.close()


def test_put_get_round_trip(cache):
    assert cache.get(KEY) is None
    cache.put(KEY, "    return a + b")
    assert cache.get(KEY) == "    return a + b"
    cache.put(KEY, "    return b + a")
    assert cache.get(KEY) == "    return b + a"


@pytest.mark.parametrize("value", ["", "ünïcödé ✓ \U0001f600", "line\n" * 1000, "x" * 100_000])
def test_values_round_trip_exactly(cache, value):
    cache.put(KEY, value)
    assert cache.get(KEY) == value


@pytest.mark.parametrize("change", [
    {"model_id": "tiny:def456"},
    {"adapter_hash": "lora1234"},
    {"fim_format": "starcoder"},
    {"prompt": KEY.prompt + " "},
    {"generation": (("max_new_tokens", 32),) + KEY.generation[1:]},
    {"generation": KEY.generation[:3] + (("temperature", 0.2), ("top_p", 0.95))},
    {"generation": KEY.generation[:2] + (("single_line", True),) + KEY.generation[3:]},
    {"generation": (("max_new_tokens", 64), ("stop", ("\n\n",))) + KEY.generation[2:]},
])
def test_every_key_field_matters(cache, change):
    cache.put(KEY, "original")
    other = dataclasses.replace(KEY, **change)
    assert other.digest() != KEY.digest()
    assert cache.get(other) is None
    cache.put(other, "other")
    assert cache.get(other) == "other"
    assert cache.get(KEY) == "original"


def test_surrogates_in_the_prompt_are_a_valid_key(cache):
    key = dataclasses.replace(KEY, prompt="lone \udcff surrogate")
    cache.put(key, "value")
    assert cache.get(key) == "value"
    assert cache.get(KEY) is None


def test_put_of_an_unencodable_value_does_not_raise(cache):
    cache.put(KEY, "bad \udcff surrogate")
    assert cache.get(KEY) is None


def test_digest_is_stable_and_hex():
    same = CacheKey(KEY.model_id, KEY.adapter_hash, KEY.fim_format, KEY.prompt, tuple(KEY.generation))
    assert same.digest() == KEY.digest()
    assert len(KEY.digest()) == 64 and int(KEY.digest(), 16) >= 0


def test_survives_closing_and_reopening(tmp_path):
    first = CompletionCache(tmp_path / "c", size_limit_mb=4)
    first.put(KEY, "kept")
    first.close()
    assert first.get(KEY) is None  # closed: a miss, not an error
    first.put(KEY, "ignored")  # closed: nothing written, no error
    second = CompletionCache(tmp_path / "c", size_limit_mb=4)
    assert second.get(KEY) == "kept"
    second.close()


def test_close_twice(tmp_path):
    c = CompletionCache(tmp_path / "c", size_limit_mb=1)
    c.close()
    c.close()
    assert c.volume == 0


def test_size_limit_is_respected(tmp_path):
    cache = CompletionCache(tmp_path / "c", size_limit_mb=1)
    limit = 1024 * 1024
    entry = "x" * 20_000  # below diskcache's file threshold: stored in the database
    keys = [dataclasses.replace(KEY, prompt=f"prompt {i}") for i in range(200)]  # ~4 MB written in all
    for key in keys:
        cache.put(key, entry)
    assert cache.volume < limit + 2 * len(entry)
    kept = [key for key in keys if cache.get(key) is not None]
    # Older entries were evicted, the newest survive.
    assert 0 < len(kept) < len(keys) // 2
    assert cache.get(keys[-1]) == entry
    assert cache.get(keys[0]) is None
    cache.close()


def test_recently_read_entries_survive_eviction(tmp_path):
    cache = CompletionCache(tmp_path / "c", size_limit_mb=1)
    entry = "y" * 20_000
    keep = dataclasses.replace(KEY, prompt="read often")
    cache.put(keep, entry)
    for i in range(200):
        cache.put(dataclasses.replace(KEY, prompt=f"filler {i}"), entry)
        assert cache.get(keep) == entry  # least-recently-used: reading it keeps it
    cache.close()


def test_corrupt_database_is_set_aside_and_a_new_one_started(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "cache.db").write_bytes(b"this is not sqlite \x00\xff" * 512)
    cache = CompletionCache(folder, size_limit_mb=1)
    assert cache.get(KEY) is None
    cache.put(KEY, "value")
    assert cache.get(KEY) == "value"
    assert (folder / "cache.db.corrupt").read_bytes().startswith(b"this is not sqlite")
    assert cache.faults.counts == {"cache/corrupt": 1}
    cache.close()


def test_database_with_corrupt_pages_is_set_aside(tmp_path):
    folder = tmp_path / "c"
    cache = CompletionCache(folder, size_limit_mb=1)
    cache.put(KEY, "value")
    cache.close()
    # Overwrite the pages after the header: sqlite opens it, then fails to read.
    db = folder / "cache.db"
    data = bytearray(db.read_bytes())
    data[100:] = b"\xa5" * (len(data) - 100)
    db.write_bytes(bytes(data))
    cache = CompletionCache(folder, size_limit_mb=1)
    assert cache.get(KEY) is None
    new = dataclasses.replace(KEY, prompt="new")
    cache.put(new, "value")  # into a new database: the damaged one was set aside
    assert cache.get(new) == "value"
    assert (folder / "cache.db.corrupt").is_file() and cache.faults.counts == {"cache/corrupt": 1}
    cache.close()


def test_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = CompletionCache(blocker / "completions", size_limit_mb=1)
    assert cache.get(KEY) is None
    cache.put(KEY, "value")
    assert cache.get(KEY) is None
    assert cache.volume == 0
    cache.close()
    assert blocker.read_text() == "not a folder"


def test_locked_database_is_a_miss_not_a_stall(tmp_path):
    folder = tmp_path / "c"
    cache = CompletionCache(folder, size_limit_mb=1)
    cache.put(KEY, "value")
    other = dataclasses.replace(KEY, prompt="other")
    locker = sqlite3.connect(folder / "cache.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        assert cache.get(KEY) is None
        cache.put(other, "value")  # no raise
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert cache.get(KEY) == "value"
    assert cache.get(other) is None
    cache.close()
