"""Suite cache: built once, reused, and a corrupted or partial cache is rebuilt, never used."""

import json

import pytest

from harness.suites import cache


def _builder(calls):
    def build(folder):
        calls.append(folder)
        (folder / "data.json").write_text(json.dumps({"n": len(calls)}))
        (folder / "sub").mkdir()
        (folder / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 100)
    return build


def test_built_once_then_reused(tmp_path):
    calls = []
    folder = tmp_path / "tiny-abc"
    cache.ensure(folder, _builder(calls))
    cache.ensure(folder, _builder(calls))
    assert len(calls) == 1
    manifest = json.loads((folder / cache.MANIFEST).read_text())["files"]
    assert set(manifest) == {"data.json", "sub/weights.bin"}


@pytest.mark.parametrize("damage", ["corrupt", "truncate", "delete", "no_manifest"])
def test_damaged_cache_is_rebuilt(tmp_path, damage):
    calls, logs = [], []
    folder = tmp_path / "tiny-abc"
    cache.ensure(folder, _builder(calls))
    target = folder / "sub" / "weights.bin"
    if damage == "corrupt":
        target.write_bytes(b"\x01\x01" * 100)
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:10])
    elif damage == "delete":
        target.unlink()
    else:
        (folder / cache.MANIFEST).unlink()
    with pytest.raises(cache.CacheError):
        cache.verify(folder)
    cache.ensure(folder, _builder(calls), log=logs.append)
    assert len(calls) == 2 and "rebuilding" in logs[0]
    cache.verify(folder)
    assert json.loads((folder / "data.json").read_text()) == {"n": 2}


def test_failed_build_leaves_no_cache(tmp_path):
    folder = tmp_path / "tiny-abc"

    def broken(tmp):
        (tmp / "half.json").write_text("{")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.ensure(folder, broken)
    assert not folder.exists()
    assert not list(tmp_path.iterdir())  # the temporary folder is removed too
