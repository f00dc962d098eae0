"""The fuzz suite (issue 16): hostile input everywhere, one clear line and no lost data.

Each file fuzzes one door: the ``vrb`` command line, store URLs, the client API,
graph files, ``vrb-compile`` sources. Example counts come from
:data:`tests.properties.BUDGETS` (``VRB_HYPOTHESIS_PROFILE=ci-deep`` for the deep run).
"""
