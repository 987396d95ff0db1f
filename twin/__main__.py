"""Run the ``twin`` command line: ``python -m twin``."""

import sys

from twin.cli import main

sys.exit(main())
