"""Shared test settings: hypothesis profiles, and Ctrl-C as a terminal sends it.

``ci`` is the default; set ``HYPOTHESIS_PROFILE=nightly`` for a long run.
"""

from __future__ import annotations

import os
import signal

from hypothesis import settings

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("nightly", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# A shell runs a background job (``cmd &``, ``nohup``) with SIGINT ignored,
# and a process inherits that, as does every command it starts. The tests
# of Ctrl-C send SIGINT to this process and to CLI subprocesses: give it its
# usual meaning, so they test pollwise rather than how the suite was started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
