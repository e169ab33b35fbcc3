"""What every model block of the package is, as a type: a Gluon block with
a ``config`` dict, the constructor arguments that rebuild it
(``run_folder.save_model`` stores them beside the parameters).  A block
registered with ``registry.register`` must have it; the registry, the
run folder and the predictor rely on nothing more than this and the
Gluon block methods named here.
"""
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RecommenderBlock(Protocol):
    """A trainable recommender block (``models.MF``, ``AutoRec``,
    ``NeuMF``...): ``block(**block.config)`` builds an equal one."""
    config: dict

    def __call__(self, *inputs: Any) -> Any:
        """Scores of a batch (the task says which inputs)."""

    def collect_params(self, select: Any = None) -> Any:
        """The block's parameters (Gluon's ``ParameterDict``)."""

    def initialize(self, init: Any = None, ctx: Any = None,
                   verbose: bool = False, force_reinit: bool = False
                   ) -> None:
        """Give every parameter its first values."""

    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        """Compile the forward pass to a graph where the block can."""

    def save_parameters(self, filename: str,
                        deduplicate: bool = False) -> None:
        """Write the parameters to ``filename``."""

    def load_parameters(self, filename: str, ctx: Any = None,
                        allow_missing: bool = False,
                        ignore_extra: bool = False, cast_dtype: bool = False,
                        dtype_source: str = 'current') -> None:
        """Read the parameters from ``filename``."""
