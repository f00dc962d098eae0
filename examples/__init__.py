"""The whitepaper's examples, ported to Python.

Every module here checks with zero diagnostics under ``vrb-compile check`` and
runs with the runtime SDK (steps simulate their services with in-memory data:
no network I/O). ``examples/broken`` holds what the whitepaper's own snippets
do wrong in Python, each naming the diagnostic it triggers and the module here
that corrects it.
"""
