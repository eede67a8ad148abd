"""geo-enforce: ledger, change detection and official areas for township enforcement bureaus.

The library never imports FastAPI; ``api/`` puts HTTP on top of it.
"""

__version__ = "0.1.0"
