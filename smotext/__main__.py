import sys

from smotext.cli import main

sys.exit(main())
