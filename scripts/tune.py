#!/usr/bin/env python
"""`d2l-recsys tune` as a script: see its --help."""
import sys

from d2l_recsys.commands.tune import main

if __name__ == '__main__':
    sys.exit(main())
