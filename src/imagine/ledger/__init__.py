"""The SQLite ledger of jobs and their events."""

from imagine.ledger.store import Event, Ledger, StaleTransition

__all__ = ["Event", "Ledger", "StaleTransition"]
