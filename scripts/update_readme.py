#!/usr/bin/env python
"""Regenerate README.md's option tables from the configuration fields
(the results tables come from `d2l-recsys reproduce --readme README.md`)."""
import os
import sys

from d2l_recsys.cli import readme_with_options
from d2l_recsys.files import write_text

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                      'README.md')

if __name__ == '__main__':
    path = sys.argv[1] if len(sys.argv) > 1 else README
    with open(path, encoding='utf-8') as f:
        write_text(path, readme_with_options(f.read(), path))
