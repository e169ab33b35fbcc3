"""The data layer: files -> DataFrames -> splits -> arrays and iterators.

``locate`` finds MovieLens releases, ``formats`` reads their files and
``tables`` your own; ``splits`` makes train/test splits and ``spec``
describes a run's data once (``DataSpec``) and materializes it; the one
user x item type is ``interactions.Interactions``; ``iterators`` turns
ratings into mini-batches (``rows``: AutoRec's rows of the rating matrix,
dense or CSR; ``sequences``: Caser's windows); ``ctr`` reads the book's
CTR files and encodes feature fields, ``attributes`` MovieLens 100K's user
and movie fields, ``hub`` names data sets as the book does; ``synthetic``
and ``synthetic_ctr`` make data sets with a known answer.  Nothing
here knows a model or the training loop.
"""
from .formats import (COLUMNS, ENV_VAR, RATING_RANGE, densify,  # noqa: F401
                      read_data_ml100k, read_item_titles, read_ratings,
                      read_train_test, resolve_ratings_file, safe_extract,
                      DATA_HUB, DATA_MD5, DATASETS, RELEASES)
from .iterators import (ArrayIter, BatchOrder, ShardOrder,  # noqa: F401
                        NegativeSamplingIter, PRDataset,
                        interaction_mask,
                        interaction_matrix,
                        load_data_ml100k, rating_arrays, rating_iters,
                        sample_negatives, sample_test_negatives,
                        split_and_load_ml100k)
from .splits import (kfold_split, official_fold_files,  # noqa: F401
                     split_data_ml100k, validation_split)
from .spec import DataSpec, RunData, materialize, rating_split  # noqa
from .tables import from_frame, parse_columns, read_table  # noqa: F401
from .interactions import Interactions  # noqa: F401
from .rows import (RowIter, autorec_iters,  # noqa: F401
                   choose_formulation)
from .sequences import SeqDataset  # noqa: F401
from .ctr import (CTRDataset, ctr_dir, encode_fields, load_ctr,  # noqa: F401
                  read_ctr)
from .attributes import item_fields, user_fields  # noqa: F401
