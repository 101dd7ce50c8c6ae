"""Helpers shared by the tests and the benches (not tests themselves): `tests.support.postgres`, `tests.support.ci`.

Importable as `tests.support...` inside pytest (its importlib mode registers `tests` from the repo root) and from
scripts that put the repo root first on sys.path (bench/durability.py does).
"""
