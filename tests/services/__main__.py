"""`python -m tests.services up|down|status|pin` (see tests/services/README.md)."""
import sys

from tests.services.cli import main

sys.exit(main(sys.argv[1:]))
