"""Scanner stations built on invreconcile's public API (see ``scanners.station``).

Nothing in ``invreconcile`` imports this package; the ``invreconcile station`` command is
found through the ``invreconcile.commands`` entry-point group.
"""
