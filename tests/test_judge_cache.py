"""The judgment cache: persistent, keyed without collisions, never duplicating a row."""

from __future__ import annotations

import sqlite3

from harness.judges.cache import JudgmentCache, cache_key, default_cache_path


def test_keys_do_not_collide_by_concatenation():
    assert cache_key("h", "pairwise", "ab", "c") != cache_key("h", "pairwise", "a", "bc")
    assert cache_key("h", "pairwise", "p", "o", "r", "AB") != cache_key("h", "pairwise", "p", "o", "r", "BA")
    assert cache_key("h1", "single", "p") != cache_key("h2", "single", "p")


def test_put_get_persist_and_ignore_duplicates(tmp_path):
    path = tmp_path / "c.sqlite"
    with JudgmentCache(path) as cache:
        cache.put("k1", "j", "h", {"value": 1.0})
        cache.put("k1", "j", "h", {"value": 0.0})  # a second write of a key is a no-op
        cache.put("k2", "j", "h2", {"value": 0.5})
    with JudgmentCache(path) as cache:
        assert cache.get_many(["k1", "k2", "k3"]) == {"k1": {"value": 1.0}, "k2": {"value": 0.5}}
        assert cache.count() == 2 and cache.count("h") == 1


def test_many_keys_are_fetched_in_chunks(tmp_path):
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        for i in range(520):
            cache.put(f"k{i}", "j", "h", {"i": i})
        assert len(cache.get_many([f"k{i}" for i in range(1100)])) == 520


def test_default_path_is_under_harness_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    assert default_cache_path() == tmp_path / "judgments.sqlite"


def test_openers_racing_on_a_new_file_all_get_wal_mode(tmp_path):
    """Switching to WAL is refused at once (no busy wait) while another connection is doing the
    same; a run and a reader opening a new cache together must both succeed (a CI failure)."""
    import threading

    from harness.discovery.archive import Archive

    for trial in range(20):
        for opener in (JudgmentCache, Archive):
            path = tmp_path / f"{opener.__name__}-{trial}.sqlite"
            errors: list[Exception] = []

            def go(opener=opener, path=path, errors=errors):
                try:
                    opener(path)
                except Exception as exc:  # noqa: BLE001 - collected and asserted below
                    errors.append(exc)

            threads = [threading.Thread(target=go) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []
            assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
