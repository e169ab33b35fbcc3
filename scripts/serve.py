#!/usr/bin/env python
"""`d2l-recsys serve` as a script: see its --help."""
import os
import sys

# One OpenMP thread per server process (see d2l_recsys.commands.serve),
# set before MXNet loads so that the command need not start again.
os.environ.setdefault('OMP_NUM_THREADS', '1')

from d2l_recsys.commands.serve import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
