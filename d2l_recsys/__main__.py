"""``python -m d2l_recsys``: the ``d2l-recsys`` command."""
import sys

from .commands import main

sys.exit(main())
