"""`python -m automation ...`: see the package docstring for the CLI and its exit codes."""

import sys

from automation.cli import main

sys.exit(main())
