"""CLI tests: Typer's CliRunner on real SQLite and PostgreSQL stores.

A package so that its module names (``cli.test_repo``, ``cli.conftest``) cannot clash with
test modules and conftest files of the same name in sibling directories.
"""
