"""Tests of ``borghive doctor`` and of the deployment files in ``etc/``.

A package so that its module names cannot clash with test modules of the same name in
sibling directories.
"""
