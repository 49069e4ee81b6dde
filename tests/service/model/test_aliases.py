"""Aliases: one JSON file per model in the store's home, replaced whole, changed under a lock."""

import json
import logging
import multiprocessing
import time
from datetime import datetime

import bentoml
import pytest
from support.store_entries import METADATA, staging_folder

from service.model.aliases import CHAMPION, PREVIOUS, AliasFile, check_alias_name
from service.model.store import alias_file, find_model, save_model_version
from service.model.version import ModelStoreError


def test_a_change_is_written_with_its_history_in_utc(tmp_path):
    aliases = AliasFile(tmp_path, "m")
    with aliases.editing() as state:
        state.point(CHAMPION, "v1", "first version")
    with aliases.editing() as state:
        state.promote("v2", "promoted")
    data = json.loads(aliases.path.read_text())
    assert data["aliases"] == {CHAMPION: "v2", PREVIOUS: "v1"}
    changes = [(c["alias"], c["old"], c["new"], c["reason"]) for c in data["history"]]
    assert changes == [
        (CHAMPION, None, "v1", "first version"),
        (PREVIOUS, None, "v1", "promoted"),
        (CHAMPION, "v1", "v2", "promoted"),
    ]
    assert all(
        datetime.fromisoformat(c["time"]).utcoffset().total_seconds() == 0 for c in data["history"]
    )
    # Only the alias file and its lock file remain: the temporary file was renamed over it.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "m.json"]


def test_an_error_in_the_block_writes_nothing(tmp_path):
    aliases = AliasFile(tmp_path, "m")
    with aliases.editing() as state:
        state.point(CHAMPION, "v1", "first version")
    before = aliases.path.read_bytes()
    with pytest.raises(RuntimeError), aliases.editing() as state:
        state.point(CHAMPION, "v2", "promoted")
        raise RuntimeError("interrupted")
    assert aliases.path.read_bytes() == before


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    aliases = AliasFile(tmp_path, "m")
    with aliases.editing() as state:
        state.point(CHAMPION, "v1", "first version")
    before = aliases.path.read_bytes()

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("service.model.aliases.json.dump", broken_dump)
    with pytest.raises(OSError, match="disk full"), aliases.editing() as state:
        state.point(CHAMPION, "v2", "promoted")
    assert aliases.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "m.json"]


def _add_alias(folder, index):
    with AliasFile(folder, "m").editing() as state:
        time.sleep(0.05)  # a read-modify-write that lasts: without the lock, updates are lost
        state.point(f"writer-{index}", f"v{index}", "set by hand")


def test_concurrent_writers_lose_no_update(tmp_path):
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_add_alias, args=(tmp_path, i)) for i in range(8)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(30)
    assert [writer.exitcode for writer in writers] == [0] * 8
    state = AliasFile(tmp_path, "m").read()
    assert state.aliases == {f"writer-{i}": f"v{i}" for i in range(8)}
    assert len(state.history) == 8


def test_rollback_swaps_champion_and_previous_so_a_second_one_undoes_it(tmp_path):
    aliases = AliasFile(tmp_path, "m")
    with aliases.editing() as state:
        state.point(CHAMPION, "v1", "first version")
        state.promote("v2", "promoted")
        state.rollback()
        assert (state.get(CHAMPION), state.get(PREVIOUS)) == ("v1", "v2")
        state.rollback()
        assert (state.get(CHAMPION), state.get(PREVIOUS)) == ("v2", "v1")
    assert [c["reason"] for c in aliases.read().history][-4:] == ["rollback"] * 4


def test_rollback_without_previous_says_so(tmp_path):
    with pytest.raises(ModelStoreError, match="no previous champion.*champion is m:v1"):
        with AliasFile(tmp_path, "m").editing() as state:
            state.point(CHAMPION, "v1", "first version")
            state.rollback()


@pytest.mark.parametrize("name", ["latest", "Champion", "1st", "a b", ""])
def test_alias_names_are_lowercase_words_and_never_latest(name):
    with pytest.raises(ModelStoreError, match="cannot be an alias"):
        check_alias_name(name)


def test_a_corrupt_alias_file_is_named(tmp_path):
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ModelStoreError, match=r"m\.json cannot be read.*make promote"):
        AliasFile(tmp_path, "m").read()


# Resolution through the real BentoML store of the tests (tests/conftest.py).


def _version(name, tmp_path):
    return save_model_version(name, staging_folder(tmp_path), METADATA, {})


def test_champion_without_an_alias_file_falls_back_to_latest_with_a_warning(tmp_path, caplog):
    _version("alias_legacy", tmp_path / "a")
    newest = _version("alias_legacy", tmp_path / "b")
    with caplog.at_level(logging.WARNING, logger="bentoml.model_service"):
        assert str(find_model("alias_legacy:champion").tag) == newest
    assert "falls back to alias_legacy:" in caplog.text
    assert not alias_file("alias_legacy").exists()  # a reader records nothing


def test_an_alias_resolves_to_its_version(tmp_path):
    first = _version("alias_resolve", tmp_path / "a")
    _version("alias_resolve", tmp_path / "b")
    with alias_file("alias_resolve").editing() as state:
        state.point(CHAMPION, first.split(":")[1], "first version")
        state.point("staging", first.split(":")[1], "set by hand")
    assert str(find_model("alias_resolve:champion").tag) == first
    assert str(find_model("alias_resolve:staging").tag) == first


def test_a_missing_alias_names_the_aliases_there_are_and_the_fix(tmp_path):
    tag = _version("alias_missing", tmp_path)
    with alias_file("alias_missing").editing() as state:
        state.point(PREVIOUS, tag.split(":")[1], "promoted")
    with pytest.raises(
        ModelStoreError,
        match=rf"'champion' is neither a version nor an alias of alias_missing \(its aliases: "
        rf"previous -> {tag}.*make promote TAG=alias_missing:VERSION",
    ):
        find_model("alias_missing:champion")


def test_an_alias_to_a_deleted_version_says_so(tmp_path):
    tag = _version("alias_deleted", tmp_path)
    with alias_file("alias_deleted").editing() as state:
        state.point(CHAMPION, tag.split(":")[1], "first version")
    bentoml.models.delete(tag)
    with pytest.raises(ModelStoreError, match=rf"points at {tag}, which is not in the store"):
        find_model("alias_deleted:champion")


def test_a_real_version_named_like_an_alias_wins(tmp_path):
    other = _version("alias_shadow", tmp_path)
    with bentoml.models.create(bentoml.Tag("alias_shadow", "staging")) as model:
        pass
    with alias_file("alias_shadow").editing() as state:
        state.point("staging", other.split(":")[1], "set by hand")
    assert str(find_model("alias_shadow:staging").tag) == str(model.tag) == "alias_shadow:staging"
