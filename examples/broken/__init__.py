"""What the whitepaper's own snippets do wrong once ported to Python.

Every module names, in its header, the diagnostic ``vrb-compile check`` reports
on it (``Expected diagnostic: VRBxxx``) and the module in ``examples/`` that
does it right. The project's configuration excludes this folder; run
``vrb-compile check --no-config examples/broken/`` to see the findings.
"""
