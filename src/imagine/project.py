"""The project folder: where renders land, found like git finds its repository.

The project is the nearest folder upward holding ``imagine.toml`` (made by ``imagine init``), else the
current folder. Output names come from a template relative to the project; they are sanitised and can
never escape it.
"""

from __future__ import annotations

import functools
import os
import re
import string
import tempfile
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from imagine.errors import ProjectError, UsageError

PROJECT_FILE = "imagine.toml"
RENDERS_DIR = "renders"
TEMPLATE_FIELDS = {
    "date": "creation date, YYYY-MM-DD",
    "time": "creation time, HHMMSS",
    "slug": "the prompt, shortened to a file name",
    "id": "the job id",
    "short": "the last 8 characters of the job id",
    "seq": "the job number (@N)",
    "n": "the variation number, from 1",
    "model": "the model",
    "mode": "text, image, reference, edit or extend",
    "duration": "seconds",
    "resolution": "480p, 720p or 1080p",
    "aspect": "aspect ratio, e.g. 16x9",
}
UNIQUE_FIELDS = ("id", "short", "seq")
NAME_MAX_BYTES = 255  # one name in a path, on ext4, XFS, btrfs, APFS and tmpfs alike
PATH_MAX_BYTES = 4096
# Room kept in a render's name for the longest name made from it: "-" and the short id when the
# name is taken (9), then the sidecar's temporary file ".NAME.json.XXXXXXXX.tmp" (19).
STEM_MAX_BYTES = NAME_MAX_BYTES - 9 - 19

PROJECT_TEMPLATE = """\
# imagine project settings: these override your user config for renders made in this folder.
# Every key of `imagine config list` may appear here, e.g.:
# model = "grok-imagine-video"
# resolution = "720p"
# duration = 8
# aspect = "16:9"
# output = "renders/{date}-{slug}-{short}"
"""


@dataclass(frozen=True)
class Project:
    root: Path
    config_file: Path | None

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def find_project(explicit: Path | None = None, cwd: Path | None = None) -> Project:
    """The project for a command: ``--project`` if given, else search upward for imagine.toml."""
    if explicit is not None:
        root = explicit.expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise ProjectError(f"--project {explicit} is a file, not a folder")
        marker = root / PROJECT_FILE
        return Project(root, marker if marker.is_file() else None)
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        marker = folder / PROJECT_FILE
        if marker.is_file():
            return Project(folder, marker)
    return Project(start, None)


def init_project(folder: Path) -> Path:
    """Create imagine.toml and renders/ in ``folder``; refuse to overwrite an existing project."""
    root = folder.expanduser().resolve()
    marker = root / PROJECT_FILE
    if marker.exists():
        raise ProjectError(f"{marker} already exists: this folder is already a project")
    try:
        (root / RENDERS_DIR).mkdir(parents=True, exist_ok=True)
        with marker.open("x", encoding="utf-8") as handle:
            handle.write(PROJECT_TEMPLATE)
    except OSError as error:
        raise ProjectError(f"cannot create a project in {root}: {error.strerror}") from None
    return marker


def ensure_writable(folder: Path) -> None:
    """Create ``folder`` and prove a file can be written there, before any money is spent."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".imagine-write-test-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise ProjectError(
            f"cannot write renders to {folder}: {reason}",
            hint="Choose another folder with --project, or fix its permissions.",
        ) from None


@functools.lru_cache(maxsize=64)  # a batch renders one template per job: parse it once
def check_template(template: str) -> None:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"output template {template!r} is malformed ({error})") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            known = ", ".join("{" + key + "}" for key in TEMPLATE_FIELDS)
            raise ValueError(f"unknown field {{{name}}} in output template; fields: {known}")
        if spec or conversion:
            raise ValueError(f"output template field {{{name}}} takes no format spec")


def slugify(text: str, limit: int = 48) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "video"


def _clean_part(part: str) -> str:
    cleaned = re.sub(r"[^\w.\-+@=,]+", "-", part, flags=re.UNICODE)
    cleaned = re.sub(r"-+(?=\.)|(?<=\.)-+", "", cleaned).strip(" .-")
    return cleaned or "_"


def name_bytes(name: str) -> int:
    """A file name's length as Linux file systems count it: UTF-8 bytes (an é takes two, a 视
    three), not characters."""
    return len(name.encode("utf-8", "surrogateescape"))


def _check_lengths(path: PurePosixPath, text: str) -> None:
    """Refuse, before anything is sent, a name the file system would refuse once the render is
    paid for: the MP4, its .part, sidecar and poster must all fit in NAME_MAX bytes."""
    for folder in path.parent.parts:
        if name_bytes(folder) > NAME_MAX_BYTES:
            raise UsageError(
                f"output folder {_shown(folder)} is {name_bytes(folder)} bytes long: a folder name "
                f"holds at most {NAME_MAX_BYTES} bytes (UTF-8); shorten -o/--output"
            )
    if name_bytes(path.stem) > STEM_MAX_BYTES:
        raise UsageError(
            f"output name {_shown(path.stem)} is {name_bytes(path.stem)} bytes long: a render's "
            f"name holds at most {STEM_MAX_BYTES} bytes (UTF-8; {NAME_MAX_BYTES} less room for "
            "'.mp4.part', the sidecar's temporary name and a unique suffix); shorten -o/--output"
        )
    if len(text.encode("utf-8")) > PATH_MAX_BYTES // 2:
        raise UsageError(
            f"output path is {len(text.encode('utf-8'))} bytes long: keep -o/--output under "
            f"{PATH_MAX_BYTES // 2} bytes"
        )


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 24 else repr(name[:20] + "…")


def render_template(template: str, values: Mapping[str, object]) -> PurePosixPath:
    """The relative path a template names, each part sanitised, ``.mp4`` appended when missing."""
    try:
        check_template(template)
        text = template.format_map({key: str(value) for key, value in values.items()})
    except ValueError as error:
        raise UsageError(str(error)) from None
    if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text):
        raise UsageError(
            f"output {text!r} is outside the project: give a path relative to the project, "
            "or choose the folder with --project"
        )
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UsageError(f"output {text!r} must name a file inside the project (no '..')")
    path = PurePosixPath(*[_clean_part(p) for p in parts])
    path = path if path.suffix.lower() == ".mp4" else path.with_name(path.name + ".mp4")
    _check_lengths(path, text)
    return path


# The widest value each field can take: a template that fits with these fits with any.
_WIDEST: dict[str, object] = {
    "date": "2000-01-01",
    "time": "000000",
    "slug": "x" * 48,
    "id": "0" * 26,
    "short": "0" * 8,
    "seq": "9" * 19,
    "n": "99",
    "model": "m" * 64,
    "mode": "reference",
    "duration": "15",
    "resolution": "1080p",
    "aspect": "16x9",
}


class Outputs:
    """Output paths of one run, checked once per folder (and once per template where the
    template allows it) rather than once per job: a batch has many jobs and few folders."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._inside: set[Path] = set()
        self._folders: dict[str, Path] = {}

    def file(self, template: str, values: Mapping[str, object]) -> Path:
        path = self.project.root / render_template(template, values)
        if path.parent not in self._inside:
            self._check_inside(path)
            self._inside.add(path.parent)
        return path

    def folder(self, template: str, values: Callable[[], Mapping[str, object]]) -> Path:
        """The folder a job's file goes to; the whole name checked as for ``file``. ``values``
        is called only when the template's folder depends on them."""
        known = self._folders.get(template)
        if known is not None:
            return known
        folder = self.file(template, values()).parent
        if _same_for_every_job(template):
            self._folders[template] = folder
        return folder

    def _check_inside(self, path: Path) -> None:
        if not is_inside(path.parent, self.project.root):
            raise UsageError(
                f"output {self.project.relative(path)} leads outside the project through a "
                f"symbolic link (to {os.path.realpath(path.parent)}): write inside "
                f"{self.project.root}, or choose the folder with --project"
            )


def _same_for_every_job(template: str) -> bool:
    """The folder has no field in it, and the name fits however wide its fields are."""
    folder = template.replace("\\", "/").rpartition("/")[0]
    if "{" in folder:
        return False
    try:
        render_template(template, _WIDEST)
    except UsageError:
        return False
    return True


def has_unique_field(template: str) -> bool:
    return any("{" + name + "}" in template for name in UNIQUE_FIELDS)


def plan_output(
    project: Project,
    template: str,
    values: Mapping[str, object],
    taken: Callable[[Path], bool],
    outputs: Outputs | None = None,
) -> Path:
    """An absolute output path for a new job, never one already used by a file or another job."""
    path = (outputs or Outputs(project)).file(template, values)
    used = taken(path)  # asked once a name: each answer costs a look at the disk and the ledger
    if used and not has_unique_field(template):
        stem = f"{path.stem}-{values['short']}"
        path = path.with_name(stem + path.suffix)
        used = taken(path)
    if used:
        raise UsageError(
            f"output {project.relative(path)} is already taken by another render",
            hint="Put {short} or {id} in -o/--output to make names unique.",
        )
    return path


def is_inside(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
    except ValueError:
        return False
    return True
