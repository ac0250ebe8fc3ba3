"""CLI verbs. Each module defines ``register(app)``; see :mod:`theranostix.cli`."""
