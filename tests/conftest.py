"""Shared test settings: hypothesis profiles, Ctrl-C as a terminal sends it,
and the bench importable.

``ci`` is the default; set ``HYPOTHESIS_PROFILE=nightly`` for a long run.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from hypothesis import settings

# The bench is a top-level folder run as ``python -m bench`` from the
# repository root, not part of the installed package; the tests that
# check its figures import it from there.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("nightly", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# A shell runs a background job (``cmd &``, ``nohup``) with SIGINT ignored,
# and a process inherits that, as does every command it starts. The tests
# of Ctrl-C send SIGINT to this process and to CLI subprocesses: give it its
# usual meaning, so they test pollwise rather than how the suite was started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
