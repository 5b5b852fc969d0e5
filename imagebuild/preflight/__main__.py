"""`python -m imagebuild.preflight`: what CodeBuild's buildspec runs."""

import sys

from .cli import main

sys.exit(main())
