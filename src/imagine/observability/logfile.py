"""`--log-file PATH` / ``IMAGINE_LOG``: every event of a run as one JSON object per line, for
shipping to a log store, whatever the terminal shows.

The records are those of ``--progress json`` (README, "Progress events"). The file is opened for
appending (several runs, and several processes, add to one file: each record is one ``write`` of
one line, flushed at once) and is checked when the command starts: a path that cannot be written
is a usage error before anything is sent. Nothing a user keeps secret reaches it: records carry
no prompt, and anything shaped like an API key is masked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import IO, Any

from imagine.errors import UsageError

# xAI keys ("xai-" and 20+ characters), and bearer tokens quoted in an error.
_SECRET = re.compile(r"\b(xai-)[A-Za-z0-9_\-]{8,}|(?i:(bearer\s+))[A-Za-z0-9._\-]{8,}")
MAX_LINE = 64 * 1024  # a record longer than this has its message cut: a log line stays a line


def mask_secrets(text: str) -> str:
    return _SECRET.sub(lambda m: (m[1] or m[2]) + "…", text)


class LogFile:
    """An open log file; ``write`` appends one record."""

    def __init__(self, path: Path, stream: IO[str]) -> None:
        self.path = path
        self._stream = stream

    @classmethod
    def open(cls, path: Path) -> LogFile:
        path = path.expanduser()
        try:
            if path.is_dir():
                raise IsADirectoryError(21, "is a folder")
            stream = path.open("a", encoding="utf-8")
        except OSError as error:
            raise UsageError(
                f"cannot write the log file {path}: {error.strerror or error}",
                hint="Give --log-file (or IMAGINE_LOG) a file in a folder you can write.",
            ) from None
        return cls(path, stream)

    def write(self, record: dict[str, Any]) -> None:
        line = mask_secrets(json.dumps(record, ensure_ascii=False, default=str))
        if len(line) > MAX_LINE and "message" in record:
            cut = {**record, "message": str(record["message"])[:1000] + "…"}
            line = mask_secrets(json.dumps(cut, ensure_ascii=False, default=str))
        self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.close()
