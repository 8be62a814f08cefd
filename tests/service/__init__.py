"""Service-layer tests on real SQLite and PostgreSQL stores.

A package so that its module names (``service.test_repos``) cannot clash with test
modules of the same file name in sibling directories.
"""
