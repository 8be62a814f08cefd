"""End-to-end tests: the installed ``borghive`` in subprocesses, with real borg, sshd and
inotify.

A package so that its module names cannot clash with test modules in sibling directories.
"""
