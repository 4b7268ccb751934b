"""Shared test settings: hypothesis profiles.

``ci`` is the default; set ``HYPOTHESIS_PROFILE=nightly`` for a long run.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("nightly", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
