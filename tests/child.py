"""``python -m tests.child ARGS``: the real ``imagine ARGS`` in a process of its own, as
``python -m imagine ARGS`` runs it, with the waits a test names in its environment shortened.

IMAGINE_TEST_SHARED_WAIT: seconds a run waits for another machine's upload (a minute otherwise;
a test whose machine is killed before it uploads need not sit that out)."""

from __future__ import annotations

import os
import sys

from imagine.cli import main, share

if "IMAGINE_TEST_SHARED_WAIT" in os.environ:
    share.SHARED_WAIT_SECONDS = float(os.environ["IMAGINE_TEST_SHARED_WAIT"])
sys.argv[0] = "imagine"
main()
