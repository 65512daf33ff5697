"""Shared test configuration.

Markers:
  services  – the test needs a real service (Kafka, Connect, Flink, ...) started by the harness
              in tests/services; `make test-fast` leaves these out.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

pytest_plugins = ["tests.services.fixtures"]


def pytest_configure(config):
    config.addinivalue_line("markers", "services: needs real services started by tests/services")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
