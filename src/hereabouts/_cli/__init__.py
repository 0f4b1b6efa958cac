"""Command groups of the ``hereabouts`` command, one module per area; each has ``register(app)``."""

MODULES = ("wifi", "link", "together", "profile", "accounts")
