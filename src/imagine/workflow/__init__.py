"""The workflow core: from a render request to jobs in the ledger, and on to their files.

Every command that renders (`gen`, `edit`, `extend`, `batch`, `storyboard`, `promote`, `retry`)
goes the same way, in three steps (``steps.py``), each one finished before the next begins and
none of them printing:

1. **preview** (``steps.preview``): the requests are checked and priced before anything is
   written — the spec's rules (``imagine.spec``), the admin limits (``imagine.admin``), the
   content rules (``imagine.rules``), the estimate (``imagine.money.pricing``). A dry run stops here.
2. **record** (``steps.record`` → ``plan.plan``): the estimate against the spending limits
   (``spend_checks``), then, in one ledger transaction per request, a render already paid for is
   reused (``reuse``: by fingerprint, even from sidecars alone), one still running is attached
   to, and the rest become queued jobs — all before any network call.
3. **drive** (``steps.drive`` → ``imagine.engine``): the engine submits, polls and finishes each
   job until its MP4, sidecar and poster are on disk (``imagine.render_files`` names them).

Around them, the CLI (``imagine.cli.gen`` and friends) turns flags into requests
(``imagine.cli.rendering``: settings, templates, dry run, the cost question) and shows the drive
(``imagine.cli.drive``: progress, one line per job, the exit status).

The other modules here are the workflow's parts and neighbours:
- ``batchfile``: reads a batch file's lines (.txt, .jsonl, .csv); ``entries``: turns them into
  requests, line by line.
- ``templating``: versioned prompt templates; ``promotion``: a preview's final render.
- ``control``: cancel, retry and remove by hand; ``retention``: report, purge and gc, audited.
"""
