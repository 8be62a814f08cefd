"""Who holds a repository: borg's lock files read from disk, and the processes behind them
read from ``/proc`` (standard library only, no store). The markers the forced command and
borghive's own maintenance put in a borg process's environment are defined here."""
