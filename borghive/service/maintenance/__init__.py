"""Maintenance from the server: ``borg compact``, ``borg check --repository-only`` and
``borg break-lock`` run as the repository user (runner), claimed through a maintenance_run
row (claims), refused while a client session holds the lock (guard), and the scheduler
``borghive maintain`` (plan: pure, what is due; schedule: loading and running it)."""
