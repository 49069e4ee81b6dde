"""The BentoML model store side of the contract: save a version whole, find it, load it."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import bentoml
from bentoml._internal.models.model import ModelStore

from service.model.aliases import ALIAS_PATTERN, CHAMPION, RESERVED, AliasFile
from service.model.version import (
    ModelMetadata,
    ModelStoreError,
    ModelVersion,
    read_model_version,
    with_file_hashes,
)

logger = logging.getLogger("bentoml.model_service")


def save_model_version(
    name: str, staging: Path, metadata: ModelMetadata, labels: dict[str, str]
) -> str:
    """Return the tag of a new model version made of every file in `staging`.

    BentoML (1.4.40) creates the version's folder in the store, then copies the files into it:
    an export killed in between left a folder with an empty model.yaml, and every listing of
    the store failed on it. So the version is saved into a store of its own beside the real
    one, on the same disk, and moved into place with one rename: whole, or not at all.
    """
    metadata = with_file_hashes(metadata, staging)
    incoming = _incoming_folder()
    try:
        with bentoml.models.create(
            name, metadata=metadata.to_dict(), labels=labels, _model_store=ModelStore(incoming)
        ) as model:
            for file_name in metadata.files:
                shutil.copy2(staging / file_name, model.path_of(file_name))
        folder = models_folder() / name
        folder.mkdir(parents=True, exist_ok=True)
        os.rename(incoming / name / model.tag.version, folder / model.tag.version)
        # The version is the newest of its name, so `latest` names it, as BentoML would.
        latest = incoming / "latest"
        latest.write_text(model.tag.version)
        os.replace(latest, folder / "latest")
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    return str(model.tag)


# Exports killed before their rename leave their own store here; a day later it is removed.
_INCOMING = ".incoming-models"
_INCOMING_KEPT_SECONDS = 86_400


def _incoming_folder() -> Path:
    parent = bentoml_home() / _INCOMING
    parent.mkdir(parents=True, exist_ok=True)
    for left in parent.iterdir():
        if time.time() - left.stat().st_mtime > _INCOMING_KEPT_SECONDS:
            shutil.rmtree(left, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=parent))


@dataclass(frozen=True)
class BrokenVersion:
    """A version folder BentoML cannot read: what is wrong and how to remove it."""

    tag: str
    path: Path
    error: str

    def __str__(self) -> str:
        return (
            f"{self.tag} is broken ({self.error}): an export stopped before the version was "
            f"complete, and every command skips it; remove it with `rm -r {self.path}`"
        )


def stored_versions(name: str) -> tuple[list[bentoml.Model], list[BrokenVersion]]:
    """Return the readable versions of `name`, the newest first, and the broken ones apart."""
    folder = models_folder() / name
    if not folder.is_dir():
        return [], []
    found, broken = [], []
    for path in sorted(p for p in folder.iterdir() if p.is_dir()):
        try:
            found.append(bentoml.models.get(f"{name}:{path.name}"))
        except (bentoml.exceptions.BentoMLException, ValueError, OSError) as error:
            broken.append(BrokenVersion(f"{name}:{path.name}", path, _first_line(error)))
    found.sort(key=lambda model: model.info.creation_time, reverse=True)
    return found, broken


def find_model(tag: str) -> bentoml.Model:
    """Return the model version for `tag` (a version, `latest`, a version prefix or an alias
    such as `iris:champion`), or raise naming the tag, the store and the fix."""
    name, _, version = tag.partition(":")
    if not version or version in RESERVED or not ALIAS_PATTERN.fullmatch(version):
        return _get(tag)
    try:
        model = bentoml.models.get(tag)
    except bentoml.exceptions.BentoMLException as error:  # not found, a shared prefix, broken
        broken = _broken(tag, error)
        if broken is not None:
            raise ModelStoreError(str(broken)) from None
        model = None
    if model is not None and model.tag.version == version:
        return model  # a real version of that name wins over an alias
    aliases = alias_file(name)
    if version == CHAMPION and not aliases.exists():
        # A store made before aliases existed, or the store inside a bento (which carries its
        # one version and no alias file): `latest` is what served before, so it serves now.
        # Only a writer (the export, `make promote`) records a champion; a reader that adopted
        # one here would fail on a read-only image and pick a champion nobody chose.
        fallback = _get(f"{name}:latest")
        logger.warning(
            "%s has no aliases in %s; %r falls back to %s. `make promote` sets a champion.",
            name,
            aliases.folder,
            tag,
            fallback.tag,
        )
        return fallback
    state = aliases.read()
    target = state.get(version)
    if target is not None:
        return _get(
            f"{name}:{target}",
            f"alias {version!r} of {name} points at {name}:{target}, which is not in the store "
            f"(deleted?); point it elsewhere with `make promote TAG={name}:VERSION` or "
            "`make rollback`",
        )
    if model is not None:
        return model  # a version prefix that is no alias
    known = ", ".join(f"{alias} -> {name}:{v}" for alias, v in sorted(state.aliases.items()))
    raise ModelStoreError(
        f"no model {tag!r} in the BentoML model store at {_store_path()}: {version!r} is neither "
        f"a version nor an alias of {name} (its aliases: {known or 'none'}, in {aliases.path}). "
        f"`make promote TAG={name}:VERSION` sets the champion; `python -m scripts.lifecycle "
        f"alias {version} --tag {name}:VERSION` sets any other alias"
    )


def _get(tag: str, missing: str | None = None) -> bentoml.Model:
    try:
        return bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        raise ModelStoreError(
            missing
            or f"no model {tag!r} in the BentoML model store at {_store_path()}; "
            "run `make pipeline` to train and export one, or set MODEL_TAG to one that exists"
        ) from None
    except (bentoml.exceptions.BentoMLException, ValueError) as error:
        broken = _broken(tag, error)
        if broken is not None:
            raise ModelStoreError(str(broken)) from None
        # A malformed tag, or a version prefix that several versions share.
        raise ModelStoreError(f"model tag {tag!r} cannot be looked up: {error}") from None


def _broken(tag: str, error: Exception) -> BrokenVersion | None:
    """Return the version folder `tag` names, when it is there but BentoML cannot read it."""
    name, _, version = tag.partition(":")
    folder = models_folder() / name
    if version in ("", "latest"):
        try:
            version = (folder / "latest").read_text().strip()
        except OSError:
            return None
    path = folder / version
    if not version or not path.is_dir():
        return None
    return BrokenVersion(f"{name}:{version}", path, _first_line(error))


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def model_versions(name: str) -> list[bentoml.Model]:
    """Return every readable version of `name`, the newest first; broken ones are logged."""
    found, broken = stored_versions(name)
    for version in broken:
        logger.warning("%s", version)
    return found


def alias_file(name: str) -> AliasFile:
    """Return the alias file of model `name`, in the store's home so they travel together."""
    return AliasFile(bentoml_home() / "aliases", name)


def load_model_version(tag: str) -> ModelVersion:
    """Return the stored version for `tag` after checking every file against its recorded hash."""
    model = find_model(tag)
    return read_model_version(str(model.tag), model.path, dict(model.info.metadata))


def bentoml_home() -> Path:
    from bentoml._internal.configuration.containers import BentoMLContainer

    # BentoML has no public accessor for where BENTOML_HOME resolved to.
    return Path(BentoMLContainer.bentoml_home.get())


def models_folder() -> Path:
    return bentoml_home() / "models"


def _store_path() -> str:
    return str(models_folder())
