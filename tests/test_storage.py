"""Shared storage: finished renders go to an S3-compatible bucket, and any machine sharing the
ledger fetches them from there instead of paying for them again.

The bucket is moto's standalone server (what s3fs's own tests use): the one `.ci/run` starts
(IMAGINE_TEST_S3_ENDPOINT), else one per xdist worker on a free loopback port; reached through
AWS_ENDPOINT_URL with fake credentials, a new bucket per test."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import plain
from tests.helpers import Cli, sim_stats

# Looked for, not imported (a second of CPU): every worker collects this module (and
# tests/test_team.py, which uses its fixtures), while one or two run its tests.
for _needed in ("boto3", "moto"):
    if importlib.util.find_spec(_needed) is None:
        pytest.skip(f"could not import {_needed!r}", allow_module_level=True)

SECRET = "sEcReT-storage-key-1234567890"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3-compatible server: the one `.ci/run` started (IMAGINE_TEST_S3_ENDPOINT; each
    test makes a bucket of its own), else one in its own process for this worker's session."""
    started = os.environ.get("IMAGINE_TEST_S3_ENDPOINT")
    if started:
        _wait_for(started, None)
        yield started
        return
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    _wait_for(url, server)
    yield url
    server.terminate()
    server.wait(10)


def _wait_for(url: str, server: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            plain.get(url + "/moto-api/", timeout=1)
            return
        except httpx.TransportError:
            if (server is not None and server.poll() is not None) or time.monotonic() > deadline:
                if server is not None:
                    server.kill()
                pytest.fail(f"moto's server at {url} did not answer")
            time.sleep(0.05)


def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "IMAGINE_STORAGE"):
        monkeypatch.delenv(name, raising=False)


class Bucket:
    def __init__(self, name: str, prefix: str) -> None:
        import boto3

        self.name = name
        self.prefix = prefix
        self.s3 = boto3.client("s3")
        self.s3.create_bucket(Bucket=name)

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{self.prefix}"

    def objects(self) -> dict[str, int]:
        listed = self.s3.list_objects_v2(Bucket=self.name, Prefix=self.prefix + "/")
        return {item["Key"]: item["Size"] for item in listed.get("Contents", [])}

    def metadata(self, key: str) -> dict[str, str]:
        return dict(self.s3.head_object(Bucket=self.name, Key=key)["Metadata"])


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Bucket:
    """A new bucket for this test, set as the storage of every command it runs."""
    _aws_env(monkeypatch, tmp_path, moto_endpoint)
    made = Bucket(f"renders-{uuid.uuid4().hex[:12]}", "team/assets")
    monkeypatch.setenv("IMAGINE_STORAGE", made.url)
    return made


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ledger_rows(home: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(home / "ledger.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


def test_a_render_is_uploaded_with_its_sidecar_and_poster(
    cli: Cli, sim: Any, project: Path, bucket: Bucket, imagine_home: Path
) -> None:
    result = cli.gen(sim, "a fox in the snow", "-d", "1")
    assert result.exit_code == 0, result.stderr
    video = project / result.stdout.strip()
    sidecar = json.loads(video.with_suffix(".json").read_text())
    (job,) = _ledger_rows(imagine_home, "SELECT * FROM jobs")
    assert job["stored_at"]
    found = bucket.objects()
    prefix = f"team/assets/{job['id']}/"
    assert found == {
        prefix + video.name: video.stat().st_size,
        prefix + video.with_suffix(".json").name: video.with_suffix(".json").stat().st_size,
        prefix + video.with_suffix(".jpg").name: video.with_suffix(".jpg").stat().st_size,
    }
    assert bucket.metadata(prefix + video.name)["sha256"] == sidecar["file"]["sha256"]
    assert sidecar["file"]["sha256"] == _sha256(video)
    poster = video.with_suffix(".jpg")
    assert bucket.metadata(prefix + poster.name)["sha256"] == _sha256(poster)
    rows = _ledger_rows(imagine_home, "SELECT role, key, bytes FROM stored_objects")
    assert {row["role"] for row in rows} == {"video", "sidecar", "poster"}
    assert f"stored #{job['seq']} in {bucket.url}/" in result.stderr
    dump = "\n".join(
        str(tuple(row))
        for table in ("jobs", "job_events", "stored_objects", "audit_log")
        for row in _ledger_rows(imagine_home, f"SELECT * FROM {table}")
    )
    assert "testing" not in dump and SECRET not in dump  # neither access key nor secret
    assert SECRET not in video.with_suffix(".json").read_text()
    assert SECRET not in result.stderr + result.stdout


def test_another_machine_gets_the_render_from_the_bucket(
    cli: Cli,
    sim: Any,
    tmp_path: Path,
    bucket: Bucket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two "machines": their own homes and project folders, one ledger file."""
    shared = tmp_path / "shared-ledger.sqlite3"
    monkeypatch.setenv("IMAGINE_LEDGER", str(shared))
    machines = []
    for name in ("a", "b"):
        folder = tmp_path / name / "project"
        (folder / "renders").mkdir(parents=True)
        (folder / "imagine.toml").write_text("")
        machines.append(folder)
    monkeypatch.setenv("IMAGINE_HOME", str(tmp_path / "a" / "home"))
    monkeypatch.chdir(machines[0])
    first = cli.gen(sim, "a lighthouse at dusk", "-d", "1")
    assert first.exit_code == 0, first.stderr
    made = machines[0] / first.stdout.strip()

    monkeypatch.setenv("IMAGINE_HOME", str(tmp_path / "b" / "home"))
    monkeypatch.chdir(machines[1])
    second = cli.gen(sim, "a lighthouse at dusk", "-d", "1")
    assert second.exit_code == 0, second.stderr
    got = machines[1] / second.stdout.strip()
    assert got.is_relative_to(machines[1]) and got.name == made.name
    assert _sha256(got) == _sha256(made)
    assert got.with_suffix(".json").is_file() and got.with_suffix(".jpg").is_file()
    assert "fetched from shared storage" in second.stderr
    assert sim_stats(sim)["submissions"] == 1

    # Each machine, asking again, is given its own copy (nothing downloaded, nothing sent).
    for name, folder, copy in (("a", machines[0], made), ("b", machines[1], got)):
        monkeypatch.setenv("IMAGINE_HOME", str(tmp_path / name / "home"))
        monkeypatch.chdir(folder)
        again = cli.gen(sim, "a lighthouse at dusk", "-d", "1")
        assert again.exit_code == 0, again.stderr
        assert folder / again.stdout.strip() == copy
        assert "fetched" not in again.stderr
    assert sim_stats(sim)["submissions"] == 1


def test_a_run_fetching_several_renders_opens_one_s3_client(
    cli: Cli,
    sim: Any,
    tmp_path: Path,
    bucket: Bucket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """boto3 builds a session and a client in tens of milliseconds: a run makes one, not one per
    render it fetches or uploads."""
    from imagine.bucket import sync

    made = []
    real = sync.client

    def counted() -> Any:
        made.append(1)
        return real()

    monkeypatch.setattr(sync, "client", counted)
    monkeypatch.setenv("IMAGINE_LEDGER", str(tmp_path / "shared-ledger.sqlite3"))
    for name in ("a", "b"):
        folder = tmp_path / name / "project"
        (folder / "renders").mkdir(parents=True)
        (folder / "imagine.toml").write_text("")
        monkeypatch.setenv("IMAGINE_HOME", str(tmp_path / name / "home"))
        monkeypatch.chdir(folder)
        made.clear()
        result = cli.gen(sim, "three takes of a lighthouse", "-d", "1", "-n", "3")
        assert result.exit_code == 0, result.stderr
        assert len(result.stdout.split()) == 3
        assert result.stderr.count("fetched from shared storage") == (3 if name == "b" else 0)
        assert len(made) == 1  # a: the uploads of three renders; b: the fetches of three
    assert sim_stats(sim)["submissions"] == 3


def test_a_deleted_local_file_is_fetched_back(
    cli: Cli, sim: Any, project: Path, bucket: Bucket
) -> None:
    first = cli.gen(sim, "a heron by the river", "-d", "1")
    assert first.exit_code == 0, first.stderr
    video = project / first.stdout.strip()
    digest = _sha256(video)
    video.unlink()
    video.with_suffix(".jpg").unlink()

    again = cli.gen(sim, "a heron by the river", "-d", "1")
    assert again.exit_code == 0, again.stderr
    assert again.stdout == first.stdout
    assert _sha256(video) == digest and video.with_suffix(".jpg").is_file()
    assert sim_stats(sim)["submissions"] == 1

    video.unlink()
    fetched = cli.run("fetch", "@last")
    assert fetched.exit_code == 0, fetched.stderr
    assert "fetched" in fetched.stderr
    assert _sha256(video) == digest
    here = cli.run("fetch", "@last")
    assert here.exit_code == 0 and "already here" in here.stderr


def test_share_prints_a_link_that_downloads_the_mp4(
    cli: Cli, sim: Any, project: Path, bucket: Bucket
) -> None:
    made = cli.gen(sim, "a kite over a beach", "-d", "1")
    assert made.exit_code == 0, made.stderr
    video = project / made.stdout.strip()
    shared = cli.run("share", "@last", "--expires", "10m")
    assert shared.exit_code == 0, shared.stderr
    url = shared.stdout.strip()
    assert "X-Amz-Expires=600" in url and SECRET not in url
    answer = plain.get(url, timeout=10)
    assert answer.status_code == 200
    assert answer.content == video.read_bytes()
    too_long = cli.run("share", "@last", "--expires", "8d")
    assert too_long.exit_code == 2 and "7d" in too_long.stderr


def test_share_of_a_render_not_in_storage_says_how(
    cli: Cli, sim: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMAGINE_STORAGE", raising=False)
    assert cli.gen(sim, "a quiet pond", "-d", "1").exit_code == 0
    shared = cli.run("share", "@last")
    assert shared.exit_code == 2
    assert "not in shared storage" in shared.stderr


def test_rm_files_deletes_the_objects_too(
    cli: Cli, sim: Any, project: Path, bucket: Bucket
) -> None:
    made = cli.gen(sim, "a paper boat", "-d", "1")
    assert made.exit_code == 0, made.stderr
    assert len(bucket.objects()) == 3
    removed = cli.run("rm", "@last", "--files")
    assert removed.exit_code == 0, removed.stderr
    assert "3 object(s) in shared storage" in removed.stderr
    assert bucket.objects() == {}
    assert not (project / made.stdout.strip()).exists()


def test_an_unreachable_bucket_keeps_the_render_and_a_later_run_uploads_it(
    cli: Cli,
    sim: Any,
    project: Path,
    bucket: Bucket,
    monkeypatch: pytest.MonkeyPatch,
    moto_endpoint: str,
    imagine_home: Path,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    made = cli.gen(sim, "a train in the rain", "-d", "1")
    assert made.exit_code == 4, made.stderr
    video = project / made.stdout.strip()
    assert video.is_file() and video.with_suffix(".json").is_file()
    (job,) = _ledger_rows(imagine_home, "SELECT status, stored_at FROM jobs")
    assert job["status"] == "complete" and job["stored_at"] is None
    lines = [line for line in made.stderr.splitlines() if "not uploaded" in line]
    assert len(lines) == 1 and "cannot reach the storage endpoint" in lines[0]
    assert SECRET not in made.stderr

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    later = cli.run("wait")
    assert later.exit_code == 0, later.stderr
    assert len(bucket.objects()) == 3
    (job,) = _ledger_rows(imagine_home, "SELECT stored_at FROM jobs")
    assert job["stored_at"]
    assert sim_stats(sim)["submissions"] == 1


@pytest.mark.parametrize("value", ["s3://", "http://x", "s3://Bad_Bucket", "s3://b@k/x"])
def test_a_bad_storage_setting_is_refused_before_anything_is_sent(
    cli: Cli, sim: Any, project: Path, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGINE_STORAGE", value)
    result = cli.gen(sim, "a fox", "-d", "1")
    assert result.exit_code == 2
    assert "storage" in result.stderr and "IMAGINE_STORAGE" in result.stderr
    assert sim_stats(sim)["submissions"] == 0
    monkeypatch.delenv("IMAGINE_STORAGE")
    stored = cli.run("config", "set", "storage", value)
    assert stored.exit_code == 2


def test_the_storage_setting_in_imagine_toml(cli: Cli, project: Path) -> None:
    (project / "imagine.toml").write_text('storage = "s3://team-renders/ci/assets/"\n')
    shown = cli.run("config", "get", "storage")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.strip() == "s3://team-renders/ci/assets/"


def test_a_big_render_goes_up_in_parts_and_comes_back_checked(
    bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagine.bucket import sync, transfer
    from imagine.ledger.store import Ledger
    from imagine.lifecycle import Status
    from tests.helpers import job_values

    monkeypatch.setattr(transfer, "PART_BYTES", 5 * 1024 * 1024)  # S3's smallest part
    root = tmp_path / "big"
    video = root / "renders" / "big.mp4"
    video.parent.mkdir(parents=True)
    video.write_bytes(bytes(range(256)) * (11 * 4096))  # 11 MiB: three parts
    video.with_suffix(".json").write_text("{}")
    with Ledger.open() as ledger:
        job = ledger.insert(
            job_values(
                status=Status.COMPLETE,
                project_dir=str(root),
                output_path=str(video),
                file_sha256=_sha256(video),
                file_bytes=video.stat().st_size,
            )
        )
        location = sync.location_of(bucket.url)
        assert location is not None
        uploads = sync.upload(ledger, location, [job], root)
        assert [stored.id for stored in uploads.stored] == [job.id], uploads.failed
        key = f"team/assets/{job.id}/big.mp4"
        head = bucket.s3.head_object(Bucket=bucket.name, Key=key)
        assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
        assert head["Metadata"]["sha256"] == _sha256(video)

        other = tmp_path / "elsewhere"
        digest = _sha256(video)
        got, fetched = sync.fetch(ledger, ledger.require(job.id), other, 64 << 20)
        assert fetched and got.output_path == str(other / "renders" / "big.mp4")
        assert _sha256(other / "renders" / "big.mp4") == digest
        with pytest.raises(transfer.StorageError, match="over the download cap"):
            sync.fetch(ledger, got, tmp_path / "third", 1 << 20)


def test_an_upload_cut_short_resumes_without_sending_again_what_arrived(
    cli: Cli,
    sim: Any,
    project: Path,
    bucket: Bucket,
    monkeypatch: pytest.MonkeyPatch,
    imagine_home: Path,
) -> None:
    """A crash after the objects went up but before the ledger said so: the next run checks
    each object (size and sha256) and records it, sending nothing twice."""
    from imagine.bucket import transfer

    assert cli.gen(sim, "a clock tower", "-d", "1").exit_code == 0
    conn = sqlite3.connect(imagine_home / "ledger.sqlite3")
    with conn:
        conn.execute("DELETE FROM stored_objects")
        conn.execute("UPDATE jobs SET stored_at = NULL")
    conn.close()
    sent: list[str] = []
    real = transfer.Store._put
    monkeypatch.setattr(
        transfer.Store,
        "_put",
        lambda self, path, *a: (sent.append(path.name), real(self, path, *a)),
    )
    later = cli.run("wait")
    assert later.exit_code == 0, later.stderr
    assert sent == []
    (job,) = _ledger_rows(imagine_home, "SELECT stored_at FROM jobs")
    assert job["stored_at"]


@pytest.mark.parametrize(
    ("text", "bucket", "prefix"),
    [
        ("s3://team-renders", "team-renders", ""),
        ("s3://team-renders/", "team-renders", ""),
        ("s3://team.renders/ci//assets/", "team.renders", "ci/assets/"),
        ("  s3://abc/x  ", "abc", "x/"),
    ],
)
def test_storage_locations(text: str, bucket: str, prefix: str) -> None:
    from imagine.bucket.location import parse

    found = parse(text)
    assert (found.bucket, found.prefix) == (bucket, prefix)
    assert found.key("JOB", "a.mp4") == f"{prefix}JOB/a.mp4"


@pytest.mark.parametrize(
    "text",
    ["s3://ab", "s3://-abc", "s3://192.168.1.1", "s3://a..b", "s3://abc/../x", "s3://abc?x=1"],
)
def test_storage_locations_refused(text: str) -> None:
    from imagine.bucket.location import parse

    with pytest.raises(ValueError, match="storage"):
        parse(text)
