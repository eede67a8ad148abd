"""The demo: the sample township, seeded synthetic flights and the demo steps.

Shipped because ``make demo`` needs it, but outside the core: no library module imports it
(the CLI's ``demo`` command loads it when run)."""
