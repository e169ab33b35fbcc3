"""One short file per chapter model."""
from .autorec import AutoRec, MaskedL2Loss
from .mf import MF

MODELS = {'AutoRec': AutoRec, 'MF': MF}
