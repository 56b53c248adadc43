"""`python -m smotext`: the `smotext` command."""

import sys

from smotext.cli import main

sys.exit(main())
