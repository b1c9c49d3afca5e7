"""``python -m imagewatch.emulator``: the same as ``imagewatch emulator``."""

import sys

from imagewatch.emulator.cli import main

sys.exit(main(sys.argv[1:]))
