"""invreconcile: reconcile a pharmacy's purchases, sales, stock and drug trace codes
against the dispensing that medical insurance paid for.

The package reads as its pipeline: import (``importer``, ``headers``) -> ledger
(``ledger``) -> match (``match``) -> rules (``rules``) -> findings (``findings``) ->
reports. ``cli`` is a thin click layer over these functions.
"""

__version__ = "0.1.0"
