"""One command run to its end in an image, locked down as a Kubernetes Job runs it, for tests.

The image's user (never root), a read-only root file system with /tmp in memory, and host
folders bound where the Job mounts its volumes, each writable or read-only: the same namespace
and chroot as scripts/tools/harness/locked_image.py gives the service image.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scripts.tools.harness.locked_image import image_user, lockdown_script, mount_image


@dataclass(frozen=True)
class Volume:
    """A host folder bound into the image at `inside`."""

    host: Path
    inside: str
    read_only: bool = False


def run_locked(
    image: str,
    command: list[str],
    volumes: list[Volume],
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess:
    """Return the finished run of `command` in `image` (stdout and stderr together, as text),
    locked down with `volumes` as its only writable or extra folders."""
    container, rootfs, config = mount_image(image)
    root = Path(tempfile.mkdtemp(prefix="locked-job-", dir="/var/tmp"))
    try:
        user = image_user(rootfs, config.get("User") or "root")
        if 0 in user:
            raise AssertionError(f"{image} runs as root ({config.get('User')!r})")
        environment = dict(item.split("=", 1) for item in config.get("Env") or [])
        environment.update(env or {})
        script = lockdown_script(
            rootfs,
            root,
            user,
            environment,
            config.get("WorkingDir") or "/",
            command,
            binds=[(v.host, v.inside, v.read_only) for v in volumes],
        )
        # The namespace, and every mount in it, ends with the command.
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
    finally:
        subprocess.run(["buildah", "umount", container], capture_output=True)
        subprocess.run(["buildah", "rm", container], capture_output=True)
        root.rmdir()
