import sys

from signalway.cli import main

sys.exit(main())
