"""The ``storage`` setting: ``s3://bucket/prefix``, checked before anything is sent or written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# S3's rules for a bucket name (the general-purpose ones every S3-compatible store accepts).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_KEY_PART = re.compile(r"[A-Za-z0-9!_.*'()=+,;@ -]+")
MAX_PREFIX = 512
EXAMPLE = "s3://my-bucket/renders"


@dataclass(frozen=True)
class Location:
    """Where renders are kept: a bucket and a key prefix ('' or ending in '/')."""

    bucket: str
    prefix: str = ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def key(self, job_id: str, name: str) -> str:
        """A render's object key: one folder per job, so no two jobs' files collide."""
        return f"{self.prefix}{job_id}/{name}"


def parse(text: str) -> Location:
    """``s3://bucket`` or ``s3://bucket/some/prefix``; ValueError naming the fix otherwise."""
    raw = text.strip()
    shown = raw if len(raw) <= 60 else raw[:57] + "..."
    like = f"an S3 URL like {EXAMPLE}"
    if not raw.isprintable():
        raise ValueError(f"storage {shown!r} is not {like}")
    parts = urlsplit(raw)
    if parts.scheme != "s3":
        raise ValueError(
            f"storage {shown!r} is not {like} (other stores: set AWS_ENDPOINT_URL, keep s3://)"
        )
    if parts.query or parts.fragment or "@" in parts.netloc:
        # Credentials belong in AWS_* variables: this setting is stored and printed.
        raise ValueError(
            f"storage {shown!r} must be only s3://bucket/prefix: credentials go in "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    bucket = parts.netloc
    if not bucket:
        raise ValueError(f"storage {shown!r} names no bucket: give {like}")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or _IP.fullmatch(bucket):
        raise ValueError(
            f"storage bucket {bucket[:63]!r} is not a valid S3 bucket name: 3-63 lowercase "
            "letters, digits, dots and hyphens, starting and ending with a letter or digit"
        )
    return Location(bucket, _prefix(parts.path, shown))


def _prefix(path: str, shown: str) -> str:
    steps = [step for step in path.split("/") if step]
    for step in steps:
        if step in (".", "..") or not _KEY_PART.fullmatch(step):
            raise ValueError(
                f"storage prefix in {shown!r} may hold only letters, digits, and - _ . / "
                "(no '..' steps)"
            )
    prefix = "/".join(steps)
    if len(prefix) > MAX_PREFIX:
        raise ValueError(f"storage prefix is longer than {MAX_PREFIX} characters")
    return prefix + "/" if prefix else ""
