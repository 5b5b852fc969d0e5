"""`python -m trainer` and `torchrun -m trainer`."""

import sys

from .train import main

sys.exit(main())
