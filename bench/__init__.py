"""Benchmarks of lgserver's hot paths.

Each module runs on its own, for instance ``python -m bench.codec``; see
``docs/performance.md`` for what they measure and the figures they gave.
"""
