"""The SQLite ledger of jobs and their events (store.py: the Ledger itself).

Nothing is imported here: shell completion reads the ledger through choices.py alone.
"""
