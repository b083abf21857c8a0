"""`python -m demo`: see demo/run.py, or `python -m demo --help`."""

import sys

from .run import main

sys.exit(main())
