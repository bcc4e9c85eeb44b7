"""Test configuration: property tests draw the same examples on every run (DEVELOPERS.md: every
random draw takes a seed), and write no example database into the checkout."""

from hypothesis import settings

settings.register_profile("geomrelax", derandomize=True, database=None)
settings.load_profile("geomrelax")
