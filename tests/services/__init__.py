"""The real services of the test suite (see tests/services/README.md)."""
