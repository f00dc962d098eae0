"""The store conformance suite behind :mod:`runtime.testing`; import from there."""
