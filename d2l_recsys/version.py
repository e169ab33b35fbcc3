"""The package's version: one place, read by the package, the service and
the build (pyproject.toml)."""
__version__ = '0.3.0'
