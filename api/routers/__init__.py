"""One module per resource; each defines ``router``. ``create_app`` includes them all."""
