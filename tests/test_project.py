"""Project folders and output names: found like git, sanitised, never escaping the project."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagine.errors import ProjectError, UsageError
from imagine.project import (
    Project,
    ensure_writable,
    find_project,
    init_project,
    plan_output,
    render_template,
    slugify,
)

FIELDS = {"date": "2026-11-23", "slug": "a-fox", "short": "abcd1234", "id": "01jd", "n": 1}


def test_project_is_found_upward(tmp_path: Path) -> None:
    init_project(tmp_path / "film")
    deep = tmp_path / "film" / "scenes" / "one"
    deep.mkdir(parents=True)
    project = find_project(cwd=deep)
    assert project.root == (tmp_path / "film").resolve()
    assert project.config_file == (tmp_path / "film" / "imagine.toml").resolve()
    assert (tmp_path / "film" / "renders").is_dir()


def test_without_imagine_toml_the_current_folder_is_the_project(tmp_path: Path) -> None:
    assert find_project(cwd=tmp_path) == Project(tmp_path.resolve(), None)


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    init_project(tmp_path)
    with pytest.raises(ProjectError, match="already a project"):
        init_project(tmp_path)


def test_template_renders_sanitised_paths() -> None:
    path = render_template("clips/{date}-{slug}", FIELDS)
    assert str(path) == "clips/2026-11-23-a-fox.mp4"
    assert str(render_template("a b:c?.mp4", FIELDS)) == "a-b-c.mp4"


@pytest.mark.parametrize("template", ["../outside", "/etc/x", "clips/../../x", "~/x"])
def test_templates_cannot_escape_the_project(template: str) -> None:
    with pytest.raises(UsageError, match=r"project|\.\."):
        render_template(template, FIELDS)


def test_unknown_template_field() -> None:
    with pytest.raises(UsageError, match=r"unknown field \{when\}"):
        render_template("{when}", FIELDS)


def test_taken_names_get_a_unique_suffix(tmp_path: Path) -> None:
    project = Project(tmp_path, None)
    taken = {tmp_path / "hero.mp4"}
    path = plan_output(project, "hero", FIELDS, lambda p: p in taken)
    assert path == tmp_path / "hero-abcd1234.mp4"


def test_slugify() -> None:
    assert slugify("A red fox, running through SNOW!") == "a-red-fox-running-through-snow"
    assert slugify("🦊") == "video"
    assert len(slugify("word " * 40)) <= 48


def test_unwritable_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if _root_bypasses_permissions(locked):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(ProjectError, match="cannot write renders"):
            ensure_writable(locked / "renders")
    finally:
        locked.chmod(0o700)


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "renders").write_text("not a folder")
    with pytest.raises(ProjectError, match="cannot write renders"):
        ensure_writable(tmp_path / "renders")


def _root_bypasses_permissions(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True
