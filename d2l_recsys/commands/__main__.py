"""``python -m d2l_recsys.commands``: the ``d2l-recsys`` command."""
import sys

from . import main

sys.exit(main())
