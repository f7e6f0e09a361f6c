"""`python -m warmboot.bench run|report`: the same as `warmboot bench run|report`."""

import sys

from warmboot.bench.cli import main

sys.exit(main())
