"""One short file per chapter model."""
from .autorec import AutoRec
from .caser import Caser
from .fm import FM, LR, DeepFM
from .itempop import ItemPop
from .mf import MF
from .neumf import GMF, MLP, NeuMF, load_pretrained

MODELS = {m.__name__: m for m in (AutoRec, MF, GMF, MLP, NeuMF, ItemPop,
                                  Caser, FM, DeepFM, LR)}
