"""The whitepaper's examples, ported to Python.

Every module here checks with zero diagnostics under ``vrb-compile check`` and
runs with the runtime SDK (steps simulate their services with in-memory data:
no network I/O); ``tests/test_examples_e2e.py`` runs each one end to end
through a worker on SQLite, failure paths included. ``worker_setup``,
``multi_workflow_worker``, ``worker_configuration`` and ``health_monitoring``
are the operational snippets (clients and workers, no workflow of their own);
``python -m examples.worker_setup`` runs one order end to end.
``examples/broken`` holds what the whitepaper's own snippets do wrong in
Python, each naming the diagnostic it triggers and the module here that
corrects it. The docs gallery (``docs/examples/``) is generated from this
folder by ``python -m tools.docs``.
"""
