"""The ``borghive`` command line: thin commands over the service layer."""
