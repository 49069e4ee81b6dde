"""Point a kustomize overlay at the image the build made (its `images:` entry).

python -m scripts.tools.release.set_image deploy/k8s/overlays/green \
    --name REGISTRY/model-service --tag TAG
python -m scripts.tools.release.set_image deploy/k8s/overlays/green --name REGISTRY/model-service \
    --digest sha256:...

The manifests name the placeholder image `model-service`; kustomize replaces it with the
`newName` and `newTag` (or `digest`) written here, so no image tag is ever typed by hand.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from service.errors import UserError

PLACEHOLDER = "model-service"
# The grammar of the reference format (distribution/reference): tags and sha256 digests.
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _check(name: str, tag: str | None, digest: str | None) -> None:
    if "@" in name or ":" in name.rsplit("/", 1)[-1]:
        raise UserError(
            f"--name {name!r} holds a tag or digest; "
            "pass the repository alone and the pin as --tag or --digest"
        )
    if tag is not None and not TAG.fullmatch(tag):
        raise UserError(
            f"--tag {tag!r} is not a valid image tag: up to 128 of A-Z a-z 0-9 _ . -, "
            "not starting with . or -"
        )
    if digest is not None and not DIGEST.fullmatch(digest):
        raise UserError(f"--digest {digest!r} is not of the form sha256:<64 hex digits>")


def set_image(
    overlay: Path,
    name: str,
    tag: str | None = None,
    digest: str | None = None,
    placeholder: str = PLACEHOLDER,
) -> dict:
    """Give the `images:` entry written to OVERLAY/kustomization.yaml for `placeholder`."""
    if (tag is None) == (digest is None):
        raise UserError("pass exactly one of --tag and --digest")
    _check(name, tag, digest)
    path = overlay / "kustomization.yaml"
    if not path.is_file():
        raise UserError(
            f"{path} does not exist; pass an overlay folder such as deploy/k8s/overlays/green"
        )
    text = path.read_text()
    # PyYAML drops comments: keep the header, where the overlay says what it is.
    header = _leading_comments(text)
    kustomization = yaml.safe_load(text) or {}
    entry = {"name": placeholder, "newName": name}
    entry.update({"newTag": tag} if tag is not None else {"digest": digest})
    others = [i for i in kustomization.get("images", []) if i.get("name") != placeholder]
    kustomization["images"] = [*others, entry]
    path.write_text(header + yaml.safe_dump(kustomization, sort_keys=False))
    return entry


def _leading_comments(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overlay", type=Path, help="overlay folder, e.g. deploy/k8s/overlays/green")
    parser.add_argument("--name", required=True, help="image repository, e.g. ghcr.io/org/iris")
    pin = parser.add_mutually_exclusive_group(required=True)
    pin.add_argument("--tag", help="image tag the build made, e.g. the bento version")
    pin.add_argument("--digest", help="image digest, sha256:<64 hex digits>")
    parser.add_argument("--placeholder", default=PLACEHOLDER, help="image name in the manifests")
    args = parser.parse_args(argv)
    try:
        entry = set_image(args.overlay, args.name, args.tag, args.digest, args.placeholder)
    except UserError as error:
        print(f"set_image failed: {error}", file=sys.stderr)
        return 1
    pinned = entry.get("newTag") or entry["digest"]
    print(f"{args.overlay}: {args.placeholder} -> {args.name} {pinned}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
