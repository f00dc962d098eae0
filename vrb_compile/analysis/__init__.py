"""The checker's analyses: workflow bodies and helpers (engine), project-wide checks."""
