"""``python -m borghive``: the same entry point as the ``borghive`` console script."""

from borghive.entry import main

main()
