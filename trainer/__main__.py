"""`python -m trainer` and `torchrun -m trainer`."""

from .exit_codes import exit_process
from .train import main

exit_process(main())  # train.main has destroyed the process group already
