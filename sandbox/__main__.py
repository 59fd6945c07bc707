"""``python -m sandbox`` (``make demo``): see ``sandbox/demo.py``."""

import sys

from sandbox.demo import main

raise SystemExit(main(sys.argv[1:]))
