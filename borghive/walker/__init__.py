"""The stats walker: a standard-library-only worker process that measures repository
directories (worker.py), and the pool that runs and feeds such workers (pool.py).
"""
