"""Use cases of repositories: create, change, delete, show, grant access, and reconcile accounts."""
