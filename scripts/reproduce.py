#!/usr/bin/env python
"""`d2l-recsys reproduce` as a script: see its --help."""
import sys

from d2l_recsys.commands.reproduce import main

if __name__ == '__main__':
    sys.exit(main(prog='python scripts/reproduce.py'))
