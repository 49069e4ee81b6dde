"""The lifecycle commands on the real store, with small entries: what each refuses, and why."""

from support.store_entries import METADATA, staging_folder

from scripts.lifecycle.cli import main
from scripts.lifecycle.promotion import claim_first_champion
from service.model.aliases import CHAMPION
from service.model.store import alias_file, save_model_version


def _versions(name, tmp_path, count):
    """Return the versions of `count` new entries of `name`, oldest first."""
    tags = [
        save_model_version(name, staging_folder(tmp_path / str(i)), METADATA, {})
        for i in range(count)
    ]
    return [tag.split(":")[1] for tag in tags]


def test_the_first_version_of_a_model_becomes_its_champion(tmp_path):
    [first] = _versions("life_first", tmp_path, 1)
    assert claim_first_champion("life_first", first) == first
    [change] = alias_file("life_first").read().history
    assert (change["alias"], change["new"], change["reason"]) == (CHAMPION, first, "first version")


def test_a_store_made_before_aliases_adopts_its_latest_as_champion(tmp_path):
    older, newest_before, new = _versions("life_legacy", tmp_path, 3)
    assert claim_first_champion("life_legacy", new) == newest_before
    assert alias_file("life_legacy").read().history[0]["reason"].startswith("adopted")


def test_promote_without_a_newer_version_says_so(tmp_path, capsys):
    [only] = _versions("life_alone", tmp_path, 1)
    claim_first_champion("life_alone", only)
    assert main(["promote", "--name", "life_alone"]) == 1
    assert f"no version of life_alone is newer than the champion life_alone:{only}" in (
        capsys.readouterr().err
    )


def test_rollback_without_previous_exits_non_zero_with_the_reason(tmp_path, capsys):
    [only] = _versions("life_norollback", tmp_path, 1)
    claim_first_champion("life_norollback", only)
    assert main(["rollback", "--name", "life_norollback"]) == 1
    assert "has no previous champion to roll back to" in capsys.readouterr().err
    assert alias_file("life_norollback").read().get(CHAMPION) == only


def test_champion_moves_only_through_promote_and_rollback(tmp_path, capsys):
    [only] = _versions("life_byhand", tmp_path, 1)
    assert main(["alias", "champion", "--tag", f"life_byhand:{only}"]) == 1
    assert "moves only through `make promote`" in capsys.readouterr().err
    assert main(["alias", "canary", "--tag", f"life_byhand:{only}"]) == 0
    assert main(["resolve", "life_byhand:canary"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"life_byhand:{only}"


def test_models_lists_versions_newest_first_with_their_aliases(tmp_path, capsys):
    first, second = _versions("life_table", tmp_path, 2)
    with alias_file("life_table").editing() as state:
        state.point(CHAMPION, first, "first version")
    assert main(["models", "--name", "life_table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["created", "(UTC)", "version"]
    assert second in lines[1] and "champion" not in lines[1]
    assert first in lines[2] and "champion" in lines[2] and "0.9000" in lines[2]


def test_resolve_tells_an_empty_store_from_an_unreadable_alias_file(tmp_path, capsys):
    # Exit 3 alone makes `make serve` train: an alias file it cannot read is no reason to.
    assert main(["resolve", "life_nothing:champion"]) == 3
    assert "holds no version of life_nothing yet" in capsys.readouterr().err
    [only] = _versions("life_unreadable", tmp_path, 1)
    claim_first_champion("life_unreadable", only)
    alias_file("life_unreadable").path.write_text("{not json")
    assert main(["resolve", "life_unreadable:champion"]) == 1
    assert "cannot be read" in capsys.readouterr().err
