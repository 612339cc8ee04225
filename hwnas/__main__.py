"""``python -m hwnas``: the ``hwnas`` command."""

import sys

from hwnas.cli.parser import main

sys.exit(main())
