"""The review step: which renders to look at, grouped by request, and the verdicts on them.

No Typer, no Rich: `imagine review`, `gallery`, `approve` and `reject` are thin commands over this.
"""
