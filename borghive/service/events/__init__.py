"""Repository events: the records the watch daemon passes around (pure), and writing them to
the store.
"""
