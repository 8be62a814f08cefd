"""Use cases of statistics: collect, report, prune and export."""
