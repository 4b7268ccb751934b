"""pollwise's benchmark: server load against freshness, beside the peers.

Run it with ``python -m bench`` from the repository root (it needs the
``bench`` extra: tenacity, polling2, backoff). It is not part of the
installed distribution nor of the test command; ``tests/test_bench_smoke.py``
runs it on one small workload so that it cannot rot.
"""
