"""Configurations of the chapter's later sections: sequence-aware ranking
(Caser) and feature-rich click prediction (FM, DeepFM, logistic
regression).  Fields as in ``config``: one declaration each, the book's
settings from ``defaults`` filling what is left None."""
from dataclasses import dataclass, replace
from typing import List, Optional

from . import defaults as D
from . import parse as P
from .config import (BOOK_ITEM_RANGE, LOSS_NAMES, TEST_NEGATIVES, TOP_K,
                     RunConfig, _positive_int, check, opt)


@dataclass
class CaserConfig(RunConfig):
    """Caser with the book's settings (``defaults.CASER``), scored under
    the book's protocol (Hit@50 and AUC, the ranked items fixed: the book
    ranks only items 0..num_users-1, ``book_item_range=True``) or the NCF
    protocol, and always with full-ranking HR / NDCG / Recall@10."""
    protocol: str = opt("book: the book's evaluation (every item unseen in "
                        'training); ncf: 99 sampled candidates', 'book',
                        'data', choices=tuple(D.PROTOCOL_DEFAULTS))
    loss: Optional[str] = opt('training loss', choices=LOSS_NAMES)
    num_factors: Optional[int] = opt('k: item and user embedding size',
                                     type=P.positive_int)
    L: Optional[int] = opt('items in an input sequence',
                           type=P.positive_int)
    d: Optional[int] = opt('horizontal filters per height',
                           type=P.positive_int)
    d_prime: Optional[int] = opt('vertical filters', type=P.positive_int)
    dropout: Optional[float] = opt('dropout before the dense layer',
                                   type=P.ratio)
    num_test_negatives: int = TEST_NEGATIVES
    top_k: Optional[int] = TOP_K
    book_item_range: bool = BOOK_ITEM_RANGE
    eval_users: Optional[int] = opt(
        'evaluate a seeded sample of N users (default: all)', group='data',
        type=P.positive_int, metavar='N')

    @classmethod
    def table_defaults(cls, **choices):
        return D.CASER

    def data_spec(self):
        """Each user's latest interaction is held out (the book's
        seq-aware split); validation takes the latest remaining one."""
        return replace(super().data_spec(), split='seq-aware',
                       valid_split='seq-aware')

    def validate(self):
        super().validate()
        check('loss', self.loss, self.loss in ('bpr', 'hinge'),
              'bpr or hinge (pairwise: a positive and a negative)')
        for key in ('num_factors', 'L', 'd', 'd_prime', 'top_k',
                    'num_test_negatives'):
            _positive_int(key, getattr(self, key))
        check('dropout', self.dropout, 0 <= self.dropout < 1,
              'a number in [0, 1)')
        if self.eval_users is not None:
            _positive_int('eval_users', self.eval_users)


@dataclass
class FeatureConfig(RunConfig):
    """Click prediction on feature fields: MovieLens ratings with the
    users' and movies' attributes (``data.attributes``), or one's own
    ratings file with the ``features`` columns (a rating of
    ``label_threshold`` stars or more is a click, random split), or the
    book's CTR files (``ctr_dir``: ``train.csv`` and ``test.csv``)."""
    ctr_dir: Optional[str] = opt("a folder with the book's CTR files "
                                 '(train.csv, test.csv) to train on '
                                 'instead of MovieLens', group='data',
                                 metavar='DIR')
    features: Optional[str] = opt(
        'columns of --ratings to use as fields beside user and item, '
        'separated by commas (e.g. genre,age,city; default: MovieLens '
        "100K's user and movie attributes)", group='data', metavar='COLS')
    test_ratio: Optional[float] = opt('test fraction of the random split',
                                      group='data', type=P.ratio)
    label_threshold: Optional[float] = opt(
        'ratings of this many stars or more are clicks', group='data')
    book_sigmoid: bool = opt("the book's blocks: a sigmoid on the output, "
                             'then the loss applies another', False,
                             flag=True)
    num_factors: Optional[int] = opt('k: factors per feature',
                                     type=P.positive_int)

    def data_spec(self):
        return replace(super().data_spec(), split='random')

    def validate(self):
        super().validate()
        if self.num_factors is not None:
            _positive_int('num_factors', self.num_factors)
        check('test_ratio', self.test_ratio, 0 < self.test_ratio < 1,
              'a number between 0 and 1')
        if self.ctr_dir and (self.data_dir or self.ratings):
            raise ValueError('ctr_dir: the CTR files are the data; give no '
                             'data_dir or ratings with it')


@dataclass
class FMConfig(FeatureConfig):
    """A factorization machine with the book's settings (``defaults.FM``)."""

    @classmethod
    def table_defaults(cls, **choices):
        return D.FM


@dataclass
class LRConfig(FeatureConfig):
    """Logistic regression on the same fields: FM's first-order part alone,
    trained with FM's settings (``defaults.LR``)."""

    @classmethod
    def table_defaults(cls, **choices):
        return D.LR


@dataclass
class DeepFMConfig(FeatureConfig):
    """DeepFM with the book's settings (``defaults.DEEPFM``)."""
    mlp_dims: Optional[List[int]] = opt('the MLP, e.g. 30,20,10',
                                        type=P.layer_sizes)
    dropout: Optional[float] = opt('dropout after each MLP layer',
                                   type=P.ratio)

    @classmethod
    def table_defaults(cls, **choices):
        return D.DEEPFM

    def fill_defaults(self):
        super().fill_defaults()
        self.mlp_dims = list(self.mlp_dims)

    def validate(self):
        super().validate()
        check('mlp_dims', self.mlp_dims,
              self.mlp_dims and all(h >= 1 for h in self.mlp_dims),
              'positive layer sizes, e.g. 30,20,10')
        check('dropout', self.dropout, 0 <= self.dropout < 1,
              'a number in [0, 1)')
