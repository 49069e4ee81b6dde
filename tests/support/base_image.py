"""Test support: make the `FROM` image of BentoML's Dockerfile without a container registry.

`bentoml containerize --backend buildah` builds `FROM python:3.11-slim`. This machine reaches
package registries only (PyPI, Debian, npm), never a container registry, so the image is
made from Debian's packages with debootstrap and stored in buildah's local storage. It exists
only because of that; it is test support and is not shipped with the template. Users with a
registry get the real `python:3.11-slim` and never call this.

Run it by hand with `python tests/support/base_image.py [NAME]`.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SUITE = "bookworm"  # python3 is 3.11 in bookworm, the version the bento asks uv for
MIRROR = "http://deb.debian.org/debian"
# python-is-python3 gives /usr/bin/python; BentoML's template calls `pip` and `uv`, and users'
# `docker.commands` often call `python`, as they could in the real python:3.11-slim.
PACKAGES = "python3,python3-pip,python-is-python3,ca-certificates"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SLIM_EXCLUDED = ("doc", "man", "info", "locale", "groff", "lintian", "linda")
# Written into the image's labels: an image made by an older version of this file is rebuilt.
BASE_REVISION = "2"
# The real image puts its python in /usr/local/bin; pip (as root) installs uv there too.
IMAGE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    # pip, uv (rustls) and requests inside the build must trust what the host trusts.
    "SSL_CERT_FILE": CA_BUNDLE,
    "PIP_CERT": CA_BUNDLE,
}


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def image_exists(name: str) -> bool:
    """Give whether buildah's local storage holds the image `name`, made by this revision."""
    found = subprocess.run(
        ["buildah", "inspect", "--type", "image", name], capture_output=True, text=True
    )
    if found.returncode != 0:
        return False
    labels = json.loads(found.stdout)["OCIv1"]["config"].get("Labels") or {}
    return labels.get("base-image-revision") == BASE_REVISION


def _install_tools() -> None:
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        # A new machine may have no package lists yet.
        subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True)


def _make_rootfs(root: Path) -> None:
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(root), MIRROR],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # The build's pip and uv go through the same TLS-intercepting egress as the host.
    certs = root / "usr/local/share/ca-certificates"
    for crt in glob.glob("/usr/local/share/ca-certificates/*.crt"):
        shutil.copy(crt, certs)
    subprocess.run(["chroot", str(root), "update-ca-certificates"], check=True, capture_output=True)
    # PEP 668 marker: without removing it `pip install uv` (BentoML's template) refuses to run.
    (root / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
    # Like the official image: no package lists or .deb files left behind (apt-get update first).
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (root / leftover).glob("*"):
            if path.is_file():
                path.unlink()
    # Like Debian's slim images, which python:3.11-slim is built on: no manuals, docs or
    # translations (about 50 MB here), and dpkg told to leave them out of later installs.
    (root / "etc/dpkg/dpkg.cfg.d/slim").write_text(
        "".join(f"path-exclude /usr/share/{folder}/*\n" for folder in SLIM_EXCLUDED)
        + "path-include /usr/share/doc/*/copyright\n"
    )
    for folder in SLIM_EXCLUDED:
        for path in sorted((root / "usr/share" / folder).rglob("*"), reverse=True):
            if path.name == "copyright" or (path.is_dir() and not path.is_symlink()):
                continue
            path.unlink()


def _commit(root: Path, name: str) -> None:
    ctr = _run("buildah", "from", "scratch")
    try:
        mount = _run("buildah", "mount", ctr)
        # cp -a keeps owners, groups and modes; `buildah copy` resets group owners.
        subprocess.run(["cp", "-a", f"{root}/.", mount], check=True)
        _run("buildah", "umount", ctr)
        env = [arg for key, value in IMAGE_ENV.items() for arg in ("--env", f"{key}={value}")]
        _run("buildah", "config", *env, "--cmd", "python3", ctr)
        _run("buildah", "config", "--label", f"base-image-revision={BASE_REVISION}", ctr)
        _run("buildah", "commit", "--quiet", ctr, name)
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True)


def ensure_base_image(name: str = "python:3.11-slim") -> None:
    """Give nothing; make sure buildah has `name`, building it with debootstrap if absent.

    Cached: buildah's storage keeps the image, so only the first call on a machine builds
    (about a minute or two). Needs root, as debootstrap and `buildah mount` do.
    """
    if os.geteuid() != 0:
        raise PermissionError("building the base image needs root (debootstrap, buildah mount)")
    _install_tools()
    if image_exists(name):
        return
    # /var/tmp, not /tmp: the root file system is about 200 MB and /tmp may be a small tmpfs.
    with tempfile.TemporaryDirectory(prefix="base-image-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "rootfs"
        _make_rootfs(root)
        _commit(root, name)


if __name__ == "__main__":
    os.environ.setdefault("BUILDAH_ISOLATION", "chroot")
    ensure_base_image(*sys.argv[1:2])
    print(_run("buildah", "images", "--format", "{{.Name}}:{{.Tag}} {{.Size}}"))
