"""Pure value rules: names, sizes and durations, source restrictions, SSH keys, the accounts
port, the repository layout and store times. Standard library and borghive.errors only; no
I/O.
"""
