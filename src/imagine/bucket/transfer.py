"""Moving a render's files to and from the bucket with boto3 (the ``s3`` extra).

Uploads use boto3's managed transfer (multipart above 8 MiB, parts in parallel) with a SHA256
checksum the store verifies, and the file's sha256 as object metadata; each object is read back
(size and metadata) before the ledger says it is stored. Downloads go to ``NAME.part``, are
checked against the ledger's size and sha256, and only then get their name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from imagine.bucket.location import Location
from imagine.bucket.objects import Role, StoredObject
from imagine.errors import AuthError, ConfigError, ExitCode, ImagineError
from imagine.lifecycle import Job
from imagine.render_files import RenderFiles

INSTALL_HINT = "Install the s3 extra: pip install 'imagine[s3]'"
MIB = 1 << 20
PART_BYTES = 8 * MIB
CONTENT_TYPES = {
    Role.VIDEO: "video/mp4",
    Role.SIDECAR: "application/json",
    Role.POSTER: "image/jpeg",
}
MAX_SHARE_SECONDS = 7 * 86400  # the longest a SigV4 presigned URL may live
CONNECT_SECONDS = 5
READ_SECONDS = 60


class StorageError(ImagineError):
    """The shared bucket could not be reached or refused a transfer; the local render is kept."""

    exit_code = ExitCode.UNREACHABLE


class StorageAuthError(AuthError):
    """No credentials for the bucket, or ones without permission."""


def client() -> Any:
    """An S3 client from the standard AWS settings (AWS_* variables, AWS_ENDPOINT_URL,
    ~/.aws files), with bounded waits. boto3 is the optional ``s3`` extra."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError("shared storage needs boto3", hint=INSTALL_HINT) from None
    config = Config(
        connect_timeout=CONNECT_SECONDS,
        read_timeout=READ_SECONDS,
        retries={"mode": "standard"},  # AWS_MAX_ATTEMPTS sets how many
        signature_version="s3v4",
    )
    try:
        return boto3.session.Session().client("s3", config=config)
    except Exception as error:  # botocore's own (a bad region, a bad endpoint URL)
        raise _storage_error(error, "open", None) from None


@dataclass
class Store:
    """One bucket's transfers; ``s3`` is a boto3 S3 client."""

    s3: Any

    def upload(self, location: Location, job: Job, project_dir: Path) -> list[StoredObject]:
        """Put the render's MP4, sidecar and poster in the bucket (an object already there with
        the same size and sha256 is not sent again: a retried upload resumes where it was cut)."""
        video = Path(job.output_path)
        found = []
        for role, path in _files(video):
            digest = _sha256(path) if role is not Role.VIDEO else _checked_video(job, path)
            relpath = _relpath(path, project_dir)
            key = location.key(job.id, path.name)
            stored = StoredObject(role, location.bucket, key, path.stat().st_size, digest, relpath)
            if not self._holds(stored):
                self._put(path, stored, job.id)
                self._verify(stored)
            found.append(stored)
        return found

    def _put(self, path: Path, stored: StoredObject, job_id: str) -> None:
        from boto3.s3.transfer import TransferConfig

        extra = {
            "Metadata": {"sha256": stored.sha256, "imagine-job": job_id},
            "ContentType": CONTENT_TYPES[stored.role],
            "ChecksumAlgorithm": "SHA256",
        }
        config = TransferConfig(
            multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=4
        )
        try:
            self.s3.upload_file(
                str(path), stored.bucket, stored.key, ExtraArgs=extra, Config=config
            )
        except Exception as error:
            raise _storage_error(error, "upload", stored) from None

    def _head(self, stored: StoredObject) -> dict[str, Any] | None:
        try:
            return dict(self.s3.head_object(Bucket=stored.bucket, Key=stored.key))
        except Exception as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _storage_error(error, "read", stored) from None

    def _holds(self, stored: StoredObject) -> bool:
        head = self._head(stored)
        return head is not None and _matches(head, stored)

    def _verify(self, stored: StoredObject) -> None:
        head = self._head(stored)
        if head is None or not _matches(head, stored):
            raise StorageError(
                f"the bucket did not keep {stored.url} as sent (size or sha256 differ)",
                hint="It is uploaded again by the next `imagine wait`.",
            )

    def download(self, stored: StoredObject, dest: Path, max_bytes: int) -> None:
        """Fetch one object to ``dest``: to a part file, checked, then renamed."""
        from boto3.s3.transfer import TransferConfig

        if stored.bytes > max_bytes:
            raise StorageError(
                f"{stored.url} is {stored.bytes} bytes, over the download cap of {max_bytes}",
                hint="Raise max_download_mb.",
            )
        head = self._head(stored)
        if head is None:
            raise StorageError(
                f"{stored.url} is no longer in the bucket",
                hint="Render it again with --force.",
            )
        if not _matches(head, stored):
            raise StorageError(f"{stored.url} in the bucket is not the file the ledger recorded")
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        config = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES)
        try:
            self.s3.download_file(stored.bucket, stored.key, str(part), Config=config)
        except Exception as error:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise _storage_error(error, "download", stored) from None
        if part.stat().st_size != stored.bytes or _sha256(part) != stored.sha256:
            part.unlink()
            raise StorageError(f"{stored.url} arrived damaged (size or sha256 differ)")
        os.replace(part, dest)

    def delete(self, objects: list[StoredObject]) -> None:
        for stored in objects:
            try:
                self.s3.delete_object(Bucket=stored.bucket, Key=stored.key)
            except Exception as error:
                raise _storage_error(error, "delete", stored) from None

    def share(self, stored: StoredObject, seconds: int) -> str:
        """A presigned GET URL for the object, valid ``seconds``."""
        try:
            return str(
                self.s3.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": stored.bucket, "Key": stored.key},
                    ExpiresIn=seconds,
                )
            )
        except Exception as error:
            raise _storage_error(error, "sign", stored) from None


def _files(video: Path) -> list[tuple[Role, Path]]:
    files = RenderFiles(video)
    found = [(Role.VIDEO, video), (Role.SIDECAR, files.sidecar)]
    if files.poster.is_file():
        found.append((Role.POSTER, files.poster))
    return found


def _checked_video(job: Job, path: Path) -> str:
    """The MP4's sha256, which must still be the one recorded when it was downloaded."""
    digest = _sha256(path)
    if job.file_sha256 and digest != job.file_sha256:
        raise StorageError(
            f"{path} is not the file #{job.seq} downloaded (its sha256 changed): not uploading it",
            hint="Restore the original, or render again with --force.",
        )
    return digest


def _relpath(path: Path, project_dir: Path) -> str:
    try:
        return path.resolve().relative_to(project_dir.resolve()).as_posix()
    except ValueError:
        return f"renders/{path.name}"


def _matches(head: dict[str, Any], stored: StoredObject) -> bool:
    metadata = head.get("Metadata") or {}
    return bool(
        head.get("ContentLength") == stored.bytes and metadata.get("sha256") == stored.sha256
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def _code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


_AUTH_CODES = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "403",
}


def _storage_error(error: BaseException, doing: str, stored: StoredObject | None) -> ImagineError:
    """One line for a failed transfer: what, where, why; never a credential (botocore's own
    text is not repeated: only the error's code and class are)."""
    from botocore.exceptions import (
        BotoCoreError,
        ConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    cause = error
    if not _code(error) and not isinstance(error, BotoCoreError):
        # boto3's S3UploadFailedError wraps the answer it failed on
        cause = error.__cause__ or error.__context__ or error
    what = stored.url if stored is not None else "the bucket"
    code = _code(cause)
    if isinstance(cause, NoCredentialsError | PartialCredentialsError):
        return StorageAuthError(
            f"no credentials to {doing} {what}",
            hint="Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE).",
        )
    if code in _AUTH_CODES:
        return StorageAuthError(
            f"the bucket refused to {doing} {what} ({code})",
            hint="Check the AWS credentials and the bucket's permissions.",
        )
    if code == "NoSuchBucket":
        return ConfigError(
            f"the bucket {stored.bucket if stored else ''} does not exist",
            hint="Create it, or fix the storage setting.",
        )
    if isinstance(cause, ConnectionError):
        return StorageError(
            f"cannot reach the storage endpoint {_endpoint()} to {doing} {what} "
            f"({type(cause).__name__})"
        )
    reason = code or type(cause).__name__
    return StorageError(f"could not {doing} {what} ({reason})")


def _endpoint() -> str:
    """AWS_ENDPOINT_URL as scheme://host:port only (a URL may hold a user and password)."""
    raw = os.environ.get("AWS_ENDPOINT_URL")
    if not raw:
        return "(AWS S3)"
    try:
        parts = urlsplit(raw)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"
    except ValueError:
        return "(AWS_ENDPOINT_URL)"


def share_seconds(text: str) -> int:
    """``--expires``: 1h by default, at most 7 days (SigV4's limit)."""
    from imagine.storage import parse_expiry

    seconds = parse_expiry(text, flag="--expires")
    if not 1 <= seconds <= MAX_SHARE_SECONDS:
        raise ConfigError(f"--expires {text} is out of range: give 1s to 7d, e.g. --expires 1h")
    return seconds
