"""The maps stay true: the site builds strictly and offline, docs/layout.md names every module,
and README's folder map and "where to change what" table name only what exists."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.pipeline.params import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
DOCS = PROJECT_ROOT / "docs"
LAYOUT = DOCS / "layout.md"
MKDOCS = Path(sys.executable).parent / "mkdocs"
CODE_PACKAGES = ("service", "scripts")
# Made by the commands (run outputs, the venv, the site), ignored by git: a fresh clone has none.
GENERATED = ("reports/", "site/", "build/", ".venv/")
FILE_NAME = re.compile(r"^[\w.-]+\.(py|ya?ml|json|ipynb|toml|lock|md|csv)$")
README_MAX_LINES = 260
MAX_FILES_PER_TASK = 2


def build(config: Path, site_dir: Path) -> subprocess.CompletedProcess:
    """Run `mkdocs build --strict` on `config` into `site_dir`."""
    return subprocess.run(
        [
            str(MKDOCS),
            "build",
            "--strict",
            "--config-file",
            str(config),
            "--site-dir",
            str(site_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        # Material prints a banner about its successor at every build; it is not a warning of ours.
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def repo_paths(text: str) -> list[str]:
    """Return the code spans of `text` that name a path inside the repository (one with a `/`)."""
    return [
        span
        for span in code_spans(text)
        if "/" in span
        and not re.search(r"\s|://", span)
        and not span.startswith(("/", "$", "~", "-", *GENERATED))
    ]


def exists(path: str) -> bool:
    """Return whether `path` exists; a `<placeholder>` matches any name."""
    pattern = re.sub(r"<[^>]+>", "*", path.rstrip("/"))
    return any(PROJECT_ROOT.glob(pattern)) if "*" in pattern else (PROJECT_ROOT / pattern).exists()


def section(text: str, heading: str) -> str:
    """Return the body of the `## heading` section of a Markdown page."""
    assert f"\n## {heading}\n" in text, f"no section '## {heading}'"
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def table_rows(text: str) -> list[list[str]]:
    """Return the cells of every table row in `text`, header and separator rows left out."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]
    return [row for row in rows[2:] if row]


def modules() -> list[str]:
    """Return every module under service/ and scripts/, by path; package and entry files aside."""
    return sorted(
        path.relative_to(PROJECT_ROOT).as_posix()
        for package in CODE_PACKAGES
        for path in (PROJECT_ROOT / package).rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py") and "__pycache__" not in path.parts
    )


def packages() -> list[str]:
    """Return every package folder under service/ and scripts/, as `folder/`."""
    return sorted(
        path.parent.relative_to(PROJECT_ROOT).as_posix() + "/"
        for package in CODE_PACKAGES
        for path in (PROJECT_ROOT / package).rglob("__init__.py")
        if "__pycache__" not in path.parts
    )


def test_the_site_builds_strictly_and_fetches_nothing(tmp_path):
    done = build(PROJECT_ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    pages = list((tmp_path / "site").rglob("*.html"))
    assert len(pages) > len(list(DOCS.glob("*.md"))), "a page of docs/ was not built"
    # Nothing a reader's browser would fetch from elsewhere: no fonts, styles, scripts, images.
    fetched = re.compile(r"<(?:link|script|img)\b[^>]*\b(?:href|src)=\"(?:https?:)?//", re.I)
    remote = [page.name for page in pages if fetched.search(page.read_text())]
    assert not remote, f"pages that fetch from the network: {remote}"


@pytest.mark.parametrize(
    ("breakage", "complaint"),
    [
        ("link", "contains a link 'no-such-page.md'"),
        ("anchor", "no-such-heading"),
        ("omitted", 'not included in the "nav"'),
    ],
)
def test_a_broken_link_anchor_or_unlisted_page_fails_the_build(tmp_path, breakage, complaint):
    shutil.copy(PROJECT_ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(DOCS, tmp_path / "docs")
    index = tmp_path / "docs" / "index.md"
    if breakage == "link":
        index.write_text(index.read_text() + "\n[gone](no-such-page.md)\n")
    elif breakage == "anchor":
        index.write_text(index.read_text() + "\n[gone](api.md#no-such-heading)\n")
    else:
        (tmp_path / "docs" / "unlisted.md").write_text("# Unlisted\n")
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0, f"the build passed with a broken {breakage}"
    assert complaint in done.stdout + done.stderr


def test_layout_names_every_module_by_its_path():
    named = set(code_spans(LAYOUT.read_text()))
    missing = [module for module in modules() if module not in named]
    assert not missing, f"docs/layout.md does not name {missing}"
    assert "service/runtime.py" in modules()  # the list comes from the files, not from nothing


def test_every_path_layout_names_exists():
    named = repo_paths(LAYOUT.read_text())
    assert "service/scoring/core.py" in named
    gone = [path for path in named if not exists(path)]
    assert not gone, f"docs/layout.md names paths that do not exist: {gone}"


def test_the_readme_folder_map_has_every_package_folder():
    rows = table_rows(section(README.read_text(), "Folder map"))
    mapped = {span for row in rows for span in code_spans(row[0])}
    missing = [folder for folder in packages() if folder not in mapped]
    assert not missing, f"README's folder map lacks {missing}"
    assert "scripts/tools/harness/" in packages()
    gone = [folder for folder in mapped if not (PROJECT_ROOT / folder).is_dir()]
    assert not gone, f"README's folder map names folders that do not exist: {gone}"


def test_every_file_in_where_to_change_what_exists_and_each_task_needs_two_at_most():
    rows = table_rows(section(README.read_text(), "Where to change what"))
    assert len(rows) >= 8
    for task, *where in rows:
        cells = " ".join(where)
        files = set(repo_paths(cells)) | {s for s in code_spans(cells) if FILE_NAME.match(s)}
        assert files, f"'{task}' points to no file"
        assert len(files) <= MAX_FILES_PER_TASK, f"'{task}' sends a reader to {sorted(files)}"
        gone = [path for path in files if not exists(path)]
        assert not gone, f"'{task}' points to files that do not exist: {gone}"


def test_the_readme_stays_a_front_door():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"
