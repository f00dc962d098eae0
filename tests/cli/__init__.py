"""Workflow modules the ``vrb`` command tests serve with ``vrb worker``."""
