"""``python -m geo_enforce.cli``: the same as the ``geo-enforce`` command."""

from geo_enforce.cli import main

main()
