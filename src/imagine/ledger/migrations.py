"""Ordered, named migrations, each applied with its bookkeeping row in one transaction.

A shipped migration is never edited: change the schema by appending a new one.
"""

from __future__ import annotations

from collections.abc import Callable

from imagine.clock import iso
from imagine.ledger import summary
from imagine.ledger.db import Connection, transaction

Migration = tuple[str, Callable[[Connection], None]]


def m001_jobs(conn: Connection) -> None:
    conn.execute(
        """
        CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            parent_id TEXT REFERENCES jobs(id),
            status TEXT NOT NULL,
            mode TEXT NOT NULL,
            model TEXT NOT NULL,
            route TEXT NOT NULL,
            prompt TEXT,
            prompt_sent TEXT,
            duration INTEGER,
            aspect_ratio TEXT,
            resolution TEXT,
            generate_audio INTEGER NOT NULL DEFAULT 1,
            variation INTEGER NOT NULL DEFAULT 1,
            params_json TEXT NOT NULL DEFAULT '{}',
            inputs_json TEXT NOT NULL DEFAULT '[]',
            fingerprint TEXT NOT NULL,
            base_url TEXT NOT NULL,
            project_dir TEXT NOT NULL,
            output_path TEXT NOT NULL,
            request_id TEXT UNIQUE,
            progress INTEGER,
            video_url TEXT,
            video_duration REAL,
            moderation TEXT,
            cost_estimate_usd REAL,
            price_per_second_usd REAL,
            cost_ticks INTEGER,
            error_code TEXT,
            error_message TEXT,
            request_json TEXT,
            submit_response_json TEXT,
            response_json TEXT,
            file_sha256 TEXT,
            file_bytes INTEGER,
            file_json TEXT,
            sidecar_path TEXT,
            created_at TEXT NOT NULL,
            submitted_at TEXT,
            completed_at TEXT,
            downloaded_at TEXT,
            updated_at TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX jobs_status ON jobs(status)")
    conn.execute("CREATE INDEX jobs_fingerprint ON jobs(fingerprint)")


def m002_job_events(conn: Connection) -> None:
    conn.execute(
        """
        CREATE TABLE job_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            event TEXT NOT NULL,
            from_status TEXT,
            to_status TEXT,
            detail_json TEXT
        )
        """
    )
    conn.execute("CREATE INDEX job_events_job ON job_events(job_id, id)")


def m003_scheduling(conn: Connection) -> None:
    """Polling schedule and leases, so several processes can share the work of one ledger."""
    for column in (
        "poll_count INTEGER NOT NULL DEFAULT 0",
        "next_poll_at TEXT",
        "last_pending_at TEXT",
        "lease_owner TEXT",
        "lease_expires_at TEXT",
    ):
        conn.execute(f"ALTER TABLE jobs ADD COLUMN {column}")
    conn.execute("CREATE INDEX jobs_next_poll ON jobs(status, next_poll_at)")
    conn.execute("CREATE TABLE pacing (model TEXT PRIMARY KEY, next_start_at REAL NOT NULL)")


def m004_audit_log(conn: Connection) -> None:
    """Edits change someone's video: who did it, when, to which input, with what consent.
    Entries outlive their jobs (`imagine rm` keeps them), hence no foreign key."""
    conn.execute(
        """
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            job_id TEXT NOT NULL,
            action TEXT NOT NULL,
            actor TEXT,
            consent TEXT,
            input_sha256 TEXT,
            input_source TEXT,
            prompt TEXT
        )
        """
    )


def m005_lookup_indexes(conn: Connection) -> None:
    """Checks made for every new job (is this output path taken?) and every lease renewal."""
    conn.execute("CREATE INDEX jobs_output_path ON jobs(output_path)")
    conn.execute("CREATE INDEX jobs_lease_owner ON jobs(lease_owner)")


def m006_ledger_lookups(conn: Connection) -> None:
    """Indexes so that no command's cost grows with the ledger's size, each named by its query
    (see Ledger in store.py), and the index of renders found on disk kept in the ledger.

    - jobs_short_id: `imagine show 21rjnr1k`, the 8-character id the tool prints (and a prefix
      of it): ``substr(id, -8)`` in ``Ledger.resolve`` must stay spelled exactly so.
    - jobs_render_history: ``Ledger.render_seconds``, the recent render times of one shape,
      newest first, for a new job's first poll.
    - jobs_parent: ``imagine rm`` (unlinking a removed job's children, and SQLite's own check
      of the parent_id foreign key on every delete).
    - found_renders / project_folders: ``SidecarIndex``; renders whose sidecars were found in a
      project folder the ledger did not know of, by fingerprint, and the folders already walked.
    """
    conn.execute("CREATE INDEX jobs_short_id ON jobs(substr(id, -8))")
    conn.execute(
        "CREATE INDEX jobs_render_history ON jobs(model, resolution, video_duration, seq)"
        " WHERE completed_at IS NOT NULL AND submitted_at IS NOT NULL"
    )
    conn.execute("CREATE INDEX jobs_parent ON jobs(parent_id)")
    conn.execute(
        "CREATE TABLE project_folders (project_dir TEXT PRIMARY KEY, indexed_at TEXT NOT NULL)"
    )
    conn.execute(
        """
        CREATE TABLE found_renders (
            sidecar_path TEXT PRIMARY KEY,
            project_dir TEXT NOT NULL,
            fingerprint TEXT NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX found_renders_fingerprint ON found_renders(fingerprint)")


def m007_workflow_columns(conn: Connection) -> None:
    """The columns the money, policy, template, preview, review and storage work share, in one
    step so that each of them reads the same names (see the Job dataclass for their meaning)."""
    for column in (
        "block_source TEXT",
        "block_reason TEXT",
        "block_rule TEXT",
        "block_category TEXT",
        "reserved_usd REAL",
        "template_name TEXT",
        "template_version INTEGER",
        "preview INTEGER NOT NULL DEFAULT 0",
        "preview_of TEXT REFERENCES jobs(id)",
        "review_state TEXT",
        "reviewed_at TEXT",
        "reported_at TEXT",
        "report_reason TEXT",
        "file_output_json TEXT",
    ):
        conn.execute(f"ALTER TABLE jobs ADD COLUMN {column}")
    conn.execute(
        "UPDATE jobs SET block_source = 'provider', block_reason = 'moderation'"
        " WHERE status = 'blocked'"
    )
    conn.execute("CREATE INDEX jobs_preview_of ON jobs(preview_of)")


def m009_budget(conn: Connection) -> None:
    """``spent_at``: when a job's money was committed (it was marked submitting), the moment
    budgets and `imagine usage` count it at. Older jobs count from when they were sent, or
    made (a charge recorded for a job never marked sent: an import)."""
    conn.execute("ALTER TABLE jobs ADD COLUMN spent_at TEXT")
    conn.execute(
        "UPDATE jobs SET spent_at = COALESCE(submitted_at, created_at)"
        " WHERE submitted_at IS NOT NULL OR cost_ticks IS NOT NULL"
    )
    conn.execute("CREATE INDEX jobs_spent_at ON jobs(spent_at)")


def m011_templates(conn: Connection) -> None:
    """The text each template version had when last used, so that a text changed without a new
    version number is noticed (one definition per file: projects may share a template's name)."""
    conn.execute(
        """
        CREATE TABLE template_texts (
            source TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            text_sha256 TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (source, name, version)
        )
        """
    )


def m010_policy(conn: Connection) -> None:
    """Audit entries that are not about one edit: an admin policy refusal (no job, job_id '')
    says which file and setting refused what, as JSON."""
    conn.execute("ALTER TABLE audit_log ADD COLUMN detail TEXT")


def m012_lifecycle(conn: Connection) -> None:
    """`purge --older-than` reads jobs by age. (Reports and deletions are audited too, their
    facts as JSON in audit_log.detail, from 010: never the prompt.)"""
    conn.execute("CREATE INDEX jobs_created ON jobs(created_at)")


def m008_storyboards(conn: Connection) -> None:
    """Storyboards and the job each of their panels is, so `imagine show` can list them."""
    conn.execute(
        """
        CREATE TABLE storyboards (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            slug TEXT NOT NULL,
            project_dir TEXT NOT NULL,
            file_path TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (project_dir, slug)
        )
        """
    )
    conn.execute("CREATE INDEX storyboards_slug ON storyboards(slug)")
    conn.execute(
        """
        CREATE TABLE storyboard_panels (
            storyboard_id TEXT NOT NULL REFERENCES storyboards(id) ON DELETE CASCADE,
            panel_index INTEGER NOT NULL,
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            fingerprint TEXT NOT NULL,
            PRIMARY KEY (storyboard_id, panel_index)
        )
        """
    )
    conn.execute("CREATE INDEX storyboard_panels_job ON storyboard_panels(job_id)")


def _ms(start: str, end: str, scale: float = 86_400_000) -> str:
    return f"CAST(round((julianday({end}) - julianday({start})) * {scale}) AS INTEGER)"


# Durations `imagine stats` reads for every job, in ms (README, "Stats, logs and traces").
STAT_COLUMNS = {
    "stat_queued_ms": _ms("created_at", "submitted_at"),
    "stat_rendering_ms": _ms("submitted_at", "completed_at"),
    "stat_downloading_ms": _ms("completed_at", "downloaded_at"),
    "stat_total_ms": _ms("created_at", "downloaded_at"),
    # Half the time between the last poll that found it pending and the one that found it done.
    "stat_lag_ms": _ms("last_pending_at", "completed_at", 43_200_000),
}


def m015_observe(conn: Connection) -> None:
    """`imagine stats` reads a few columns and durations of every job in its window. The
    durations are virtual generated columns (nothing stored in the rows), computed when a job
    is written into one covering index, ordered by creation time for --since: a stats pass
    reads that index, a tenth of the table, and parses no timestamp. A second index counts the
    few kinds of event stats reports (reused, attached, rate limited, …) among all of them."""
    for name, expression in STAT_COLUMNS.items():
        conn.execute(
            f"ALTER TABLE jobs ADD COLUMN {name} INTEGER GENERATED ALWAYS AS ({expression}) VIRTUAL"
        )
    conn.execute(
        "CREATE INDEX jobs_stats ON jobs(created_at, status, block_source, model, resolution,"
        " mode, template_name, poll_count, cost_ticks,"
        f" video_duration, {', '.join(STAT_COLUMNS)})"
    )
    conn.execute("CREATE INDEX job_events_kind ON job_events(event, at)")


def m016_storage(conn: Connection) -> None:
    """Shared storage: each object a finished render was uploaded as (its bucket, key, size,
    sha256 and its path inside a project folder), and on the job the moment all of them were in the bucket (NULL: not yet, so the
    next `imagine wait` or render command uploads it; any machine sharing the ledger may fetch
    a job whose ``stored_at`` is set)."""
    conn.execute("ALTER TABLE jobs ADD COLUMN stored_at TEXT")
    conn.execute(
        """
        CREATE TABLE stored_objects (
            job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            bucket TEXT NOT NULL,
            key TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            relpath TEXT NOT NULL,
            uploaded_at TEXT NOT NULL,
            PRIMARY KEY (job_id, role)
        )
        """
    )


def m018_found_order(conn: Connection) -> None:
    """When each render found on disk was recorded (newest first when several match a request):
    SQLite's rowid said so before, and PostgreSQL has none."""
    conn.execute("ALTER TABLE found_renders ADD COLUMN found_at TEXT")


def m017_stats_summary(conn: Connection) -> None:
    """`imagine stats` reads a summary kept as jobs are written (ledger/summary.py): counts and
    sums per UTC day, model, resolution, mode and template, jobs per hour, and each job's value
    of each spread in indexes that give a percentile by stepping over entries; made here from the
    jobs already in the ledger."""
    counts = ", ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name in summary.COUNTS)
    conn.execute(
        f"""
        CREATE TABLE stats_summary (
            day TEXT NOT NULL,
            model TEXT NOT NULL,
            resolution TEXT NOT NULL,
            mode TEXT NOT NULL,
            template TEXT NOT NULL,
            {counts},
            PRIMARY KEY (day, model, resolution, mode, template)
        )
        """
    )
    conn.execute("CREATE TABLE stats_hours (hour TEXT PRIMARY KEY, jobs INTEGER NOT NULL)")
    conn.execute(
        """
        CREATE TABLE stats_values (
            job_id TEXT NOT NULL,
            spread TEXT NOT NULL,
            value INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            model TEXT NOT NULL,
            resolution TEXT NOT NULL,
            mode TEXT NOT NULL,
            template TEXT NOT NULL,
            PRIMARY KEY (job_id, spread)
        )
        """
    )
    summary.rebuild(conn)  # which makes the indexes of stats_values too


MIGRATIONS: list[Migration] = [
    ("001_jobs", m001_jobs),
    ("002_job_events", m002_job_events),
    ("003_scheduling", m003_scheduling),
    ("004_audit_log", m004_audit_log),
    ("005_lookup_indexes", m005_lookup_indexes),
    ("006_ledger_lookups", m006_ledger_lookups),
    ("007_workflow_columns", m007_workflow_columns),
    ("008_storyboards", m008_storyboards),
    ("009_budget", m009_budget),
    ("010_policy", m010_policy),
    ("011_templates", m011_templates),
    ("012_lifecycle", m012_lifecycle),
    ("015_observe", m015_observe),
    ("016_storage", m016_storage),
    ("017_stats_summary", m017_stats_summary),
    ("018_found_order", m018_found_order),
]


def m000_postgresql(conn: Connection) -> None:
    """PostgreSQL only: the SQLite functions the ledger's SQL calls (ledger/postgres.py)."""
    from imagine.ledger.postgres import PRELUDE

    for statement in PRELUDE:
        conn.execute(statement)


def applied(conn: Connection) -> set[str]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    return {row[0] for row in conn.execute("SELECT name FROM _migrations")}


def migrate(conn: Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply every migration not yet applied, in order; return the names applied now."""
    steps = MIGRATIONS if migrations is None else migrations
    if conn.dialect != "postgresql":
        return _apply(conn, steps)
    steps = [("000_postgresql", m000_postgresql), *steps]
    if {name for name, _ in steps} <= _applied_already(conn):
        return []
    # DDL is transactional here: every step, or none, under the ledger's lock, so two machines
    # opening a new ledger at once cannot both create it.
    with transaction(conn):
        return _apply(conn, steps)


def _applied_already(conn: Connection) -> set[str]:
    """The migrations a PostgreSQL ledger has, read without taking its lock (none if new)."""
    found = conn.execute(
        "SELECT count(*) FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_name = '_migrations'"
    ).fetchone()
    if not found[0]:
        return set()
    return {row[0] for row in conn.execute("SELECT name FROM _migrations")}


def _apply(conn: Connection, steps: list[Migration]) -> list[str]:
    done = applied(conn)
    ran = []
    for name, step in steps:
        if name in done:
            continue
        with transaction(conn):
            if name in applied(conn):  # another process got there first
                continue
            step(conn)
            conn.execute("INSERT INTO _migrations VALUES (?, ?)", (name, iso()))
        ran.append(name)
    return ran
