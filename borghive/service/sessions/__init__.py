"""Who is connected to this host's repositories (``borghive session list``) and ending a
session (``session kill``): live processes from ``/proc``, borg's lock files, and what the
watch daemon recorded in the store."""
