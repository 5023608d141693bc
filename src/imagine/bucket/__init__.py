"""Shared storage: every finished render (MP4, sidecar, poster) re-hosted in an S3-compatible
bucket, so that any machine sharing the ledger can reuse it without rendering it again.

``location`` parses the setting (no I/O, no boto3); ``objects`` records in the ledger what is
where; ``transfer`` moves files (boto3, the optional ``s3`` extra, imported only when used).
(Named ``bucket``: ``imagine.storage`` is xAI's own Files API copy, `--store`.)
"""
