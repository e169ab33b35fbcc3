"""Tasks: what each kind of model needs (see ``tasks.base``).  One
instance per kind, named in the registry's entries."""
from .base import Setup, Task  # noqa: F401
from .features import FeatureTask
from .ranking import RankingTask
from .rating import PairsTask, RowsTask
from .sequence import SequenceTask

PAIRS = PairsTask()
ROWS = RowsTask()
RANKING = RankingTask()
SEQUENCES = SequenceTask()
FEATURES = FeatureTask()
