"""`python -m signalway.gateway`: run the gateway from SIGNALWAY_* settings."""

import sys

from signalway.cli import main

sys.exit(main(["gateway"]))
