"""The BentoML model store side of the contract: save a version whole, find it, load it."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import bentoml

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

    BentoML writes the version in a temporary folder and moves it into the store only when
    the block ends without an error, so a version is stored whole or not at all.
    """
    metadata = with_file_hashes(metadata, staging)
    with bentoml.models.create(name, metadata=metadata.to_dict(), labels=labels) as model:
        for file_name in metadata.files:
            shutil.copy2(staging / file_name, model.path_of(file_name))
    return str(model.tag)


def find_model(tag: str) -> bentoml.Model:
    """Return the model version for `tag` (a version, `latest`, a version prefix or an alias
    such as `iris:champion`), or raise naming the tag, the store and the fix."""
    name, _, version = tag.partition(":")
    if not version or version in RESERVED or not ALIAS_PATTERN.fullmatch(version):
        return _get(tag)
    try:
        model = bentoml.models.get(tag)
    except bentoml.exceptions.BentoMLException:  # not found, or a prefix of several versions
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
        # A malformed tag, or a version prefix that several versions share.
        raise ModelStoreError(f"model tag {tag!r} cannot be looked up: {error}") from None


def model_versions(name: str) -> list[bentoml.Model]:
    """Return every stored version of `name`, the newest first."""
    try:
        found = bentoml.models.list(name)
    except bentoml.exceptions.NotFound:
        return []
    return sorted(found, key=lambda model: model.info.creation_time, reverse=True)


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


def _store_path() -> str:
    return str(bentoml_home() / "models")
