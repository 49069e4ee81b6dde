"""An image's server run locked down, as the Kubernetes base runs it, for tests and benchmarks.

Non-root (the image's own user), a read-only root file system, every capability dropped, and
writable memory folders only where the service writes: /tmp (BentoML's unix sockets),
BENTOML_HOME (its Prometheus multiprocess files) and the prediction log's folder.

With Docker that is `docker run --read-only --user ... --cap-drop ALL --tmpfs ...`. buildah
has no read-only run, so the buildah path mounts the image's container with `buildah mount`,
binds that tree read-only in a mount namespace of its own (`unshare --mount`), adds /proc,
/dev and the memory folders, and enters it with `chroot --userspec`: the server runs on the
host's loopback as the image's user, whose capabilities the kernel clears at the switch.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

from scripts.tools.harness.bento_process import descendants

# The folders the service writes at run time, each a memory file system here, as each is a
# volume in deploy/k8s/base/deployment.yaml.
BENTOML_HOME = "/var/lib/bentoml"
PREDICTION_LOG_DIR = "/var/log/model-service"
WRITABLE = ("/tmp", BENTOML_HOME, PREDICTION_LOG_DIR)
RUNTIME_FILES = ("/etc/hosts", "/etc/resolv.conf")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def process_uids(pid: int) -> tuple[int, ...]:
    """Return the real, effective, saved and file-system uids of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return tuple(int(value) for value in line.split()[1:])
    raise AssertionError(f"no Uid line for process {pid}")


def image_user(rootfs: Path, user: str) -> tuple[int, int]:
    """Return the uid and gid the image's USER names, from the image's own /etc/passwd."""
    if user.split(":")[0].isdigit():
        uid, _, gid = user.partition(":")
        return int(uid), int(gid or uid)
    for line in (rootfs / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user.split(":")[0]:
            return int(fields[2]), int(fields[3])
    raise AssertionError(f"the image has no user {user!r} in /etc/passwd")


def mount_image(image: str) -> tuple[str, Path, dict]:
    """Return a new buildah container of `image`, its mounted tree and the image's config."""
    container = subprocess.run(
        ["buildah", "from", image], capture_output=True, text=True, check=True
    ).stdout.strip()
    rootfs = Path(
        subprocess.run(
            ["buildah", "mount", container], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    config = json.loads(
        subprocess.run(
            ["buildah", "inspect", "--type", "container", container],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["OCIv1"]["config"]
    return container, rootfs, config


def lockdown_script(
    rootfs: Path,
    root: Path,
    user: tuple[int, int],
    env: dict[str, str],
    workdir: str,
    command: list[str],
    *,
    tmpfs: tuple[str, ...] = (),
    binds: list[tuple[Path, str, bool]] | None = None,
) -> str:
    """Return the shell script that, in a mount namespace of its own, binds `rootfs` read-only
    on `root` with /proc, /dev and a /tmp in memory, a memory file system owned by `user` at
    each of `tmpfs`, and each (host path, path inside, read-only) of `binds`, then runs
    `command` there as `user` with only `env`. Mount points are made in the container's
    writable layer first, as a volume mount makes them."""
    uid, gid = user
    quoted = shlex.quote(str(root))
    steps = [
        f"mount --bind {shlex.quote(str(rootfs))} {quoted}",
        f"mount -o remount,bind,ro {quoted}",
        f"mount --rbind /proc {quoted}/proc",
        f"mount --rbind /dev {quoted}/dev",
        f"mount -t tmpfs -o mode=1777 tmpfs {quoted}/tmp",
    ]
    for name in RUNTIME_FILES:
        # A container runtime mounts these (BentoML binds "localhost" to find free ports).
        (rootfs / name.lstrip("/")).touch(exist_ok=True)
        steps.append(f"mount --bind -o ro {name} {quoted}{name}")
    for folder in tmpfs:
        (rootfs / folder.lstrip("/")).mkdir(parents=True, exist_ok=True)
        steps.append(f"mount -t tmpfs -o uid={uid},gid={gid},mode=0755 tmpfs {quoted}{folder}")
    for host, inside, read_only in binds or []:
        point = rootfs / inside.lstrip("/")
        if Path(host).is_dir():
            point.mkdir(parents=True, exist_ok=True)
        else:
            point.touch(exist_ok=True)
        target = shlex.quote(f"{root}{inside}")
        steps.append(f"mount --bind {shlex.quote(str(host))} {target}")
        if read_only:
            # A bind takes its flags only from a remount, as `mount -o ro --bind` does.
            steps.append(f"mount -o remount,bind,ro {target}")
    inner = f"cd {shlex.quote(workdir)} && exec {shlex.join(command)}"
    steps.append(
        f"exec chroot --userspec={uid}:{gid} --groups={gid} {quoted} "
        + shlex.join(["/usr/bin/env", "-i", *[f"{k}={v}" for k, v in env.items()]])
        + " /bin/sh -c "
        + shlex.quote(inner)
    )
    return " && ".join(steps)


class LockedImage:
    """The image's server on a loopback port, locked down, stopped however the test ends."""

    def __init__(
        self,
        chosen: str,
        image: str,
        port: int,
        env: dict[str, str] | None = None,
        target: str | None = None,
        binds: dict[Path, str] | None = None,
    ):
        """`target` serves `module:Service` from the bento's source folder instead of the bento
        (the benchmark's constant endpoint); `binds` mounts host files read-only there."""
        self.chosen, self.image, self.port = chosen, image, port
        self.env = {"PREDICTION_LOG_DIR": PREDICTION_LOG_DIR, **(env or {})}
        self.target = target
        self.binds = binds or {}
        self.poll_seconds = 0.3  # how often wait_ready asks /readyz
        self.url = f"http://127.0.0.1:{port}"
        self.container: str | None = None
        self.process: subprocess.Popen | None = None
        self.root: Path | None = None
        self.uid = self.gid = -1
        self._output = ""

    def _args(self) -> list[str]:
        # The entrypoint adds the bento's path after `serve`; anything else it runs as given.
        address = ["--host", "127.0.0.1", "--port", str(self.port)]
        if self.target is None:
            return ["serve", *address]
        return ["bentoml", "serve", self.target, *address]

    def start(self) -> None:
        if self.chosen == "docker":
            if self.binds:
                raise NotImplementedError("binds are mounted on the buildah path only")
            self._start_docker()
        else:
            self._start_buildah()

    def _start_docker(self) -> None:
        tmpfs = [f"--tmpfs={folder}:uid=1034,gid=1034,mode=0755" for folder in WRITABLE[1:]]
        self.container = subprocess.run(
            ["docker", "run", "-d", "--network=host", "--read-only", "--cap-drop=ALL"]
            + ["--security-opt=no-new-privileges", "--tmpfs=/tmp", *tmpfs]
            + [f"--env={name}={value}" for name, value in self.env.items()]
            + [self.image, *self._args()],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def prepare(self) -> tuple[Path, dict]:
        """Return the mounted tree and the config of a new buildah container of the image."""
        self.container, rootfs, config = mount_image(self.image)
        return rootfs, config

    def _start_buildah(self) -> None:
        rootfs, config = self.prepare()
        self.uid, self.gid = image_user(rootfs, config.get("User") or "root")
        env = dict(item.split("=", 1) for item in config.get("Env") or [])
        env.update(self.env, HOME=f"/home/{config.get('User') or 'root'}")
        command = [*config["Entrypoint"], *self._args()]
        self.root = Path(tempfile.mkdtemp(prefix="locked-root-", dir="/var/tmp"))
        workdir = config.get("WorkingDir") or "/"
        if self.target is not None:
            workdir = f"{workdir.rstrip('/')}/src"  # where the bento's service package is
        script = lockdown_script(
            rootfs,
            self.root,
            (self.uid, self.gid),
            env,
            workdir,
            command,
            tmpfs=WRITABLE[1:],
            binds=[(host, inside, True) for host, inside in self.binds.items()],
        )
        self.process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def server_pids(self) -> list[int]:
        """Return the pids of the image's `bentoml serve` process and its workers."""
        if self.process is None:
            return []
        return [pid for pid in descendants(self.process.pid) if b"bentoml" in _cmdline(pid)]

    def wait_exit(self, timeout: float) -> int:
        """Return the server's exit code, once it has exited of its own accord."""
        if self.chosen == "docker":
            done = subprocess.run(
                ["docker", "wait", self.container], capture_output=True, text=True, timeout=timeout
            )
            return int(done.stdout.strip())
        self._output = self.process.communicate(timeout=timeout)[0].decode(errors="replace")
        return self.process.returncode

    def output(self) -> str:
        if self.chosen == "docker":
            done = subprocess.run(
                ["docker", "logs", self.container], capture_output=True, text=True
            )
            return done.stdout + done.stderr
        return self._output

    def run(self, *command: str) -> subprocess.CompletedProcess:
        """Return what `command` did inside the image (as root, on its writable tree)."""
        if self.chosen == "docker":
            return subprocess.run(
                ["docker", "run", "--rm", "--entrypoint", command[0], self.image, *command[1:]],
                capture_output=True,
                text=True,
            )
        return subprocess.run(
            ["buildah", "run", "--isolation", "chroot", self.container, "--", *command],
            capture_output=True,
            text=True,
        )

    def wait_ready(self, timeout: float = 120) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"the image's server exited:\n{self.process.stdout.read()}")
            try:
                if requests.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return time.monotonic() - started
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(self.poll_seconds)
        raise AssertionError(f"/readyz was not 200 within {timeout} s")

    def stop(self) -> None:
        if self.chosen == "docker":
            if self.container:
                subprocess.run(["docker", "rm", "-f", self.container], capture_output=True)
            return
        if self.process is not None and self.process.poll() is None:
            tree = descendants(self.process.pid)
            # SIGTERM to `bentoml serve` lets it stop its workers; the namespace goes with them.
            for pid in tree:
                if b"bentoml\0serve" in _cmdline(pid):
                    os.kill(pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            for pid in tree:
                if b"bentoml" in _cmdline(pid):
                    os.kill(pid, signal.SIGKILL)
        if self.container:
            subprocess.run(["buildah", "umount", self.container], capture_output=True)
            subprocess.run(["buildah", "rm", self.container], capture_output=True)
        if self.root is not None:
            try:
                self.root.rmdir()  # empty once the namespace that mounted on it is gone
            except OSError:
                pass
