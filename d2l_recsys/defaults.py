"""One table of defaults: the book's settings per model and the ranking
protocols' settings.  ``config``, the scripts' ``--help``, the notebooks and
``bench/`` read them from here; the README's option tables are checked
against them by ``tests/test_defaults.py``.

Sources: d2l, chapters "Matrix Factorization", "AutoRec" and "Neural
Collaborative Filtering for Personalized Ranking"; He et al. (2017), "Neural
Collaborative Filtering", and its code for the NCF protocol.
"""

# Matrix factorization (d2l): seq-aware split, as the chapter's
# split_and_load_ml100k default, Adam.
MF = dict(split='seq-aware', test_ratio=0.1, num_factors=30, epochs=20,
          lr=0.002, wd=1e-5, batch_size=512, lr_decay=1.0,
          bias_init='normal')

# MF's presets: 'book' is the chapter; 'fast' is the same model trained for
# time to accuracy on large data: batches of 8,192 with row-sparse
# gradients (lazy Adam), item biases started at the training mean, and the
# learning rate halved after every epoch.  Chosen on validation data carved
# from the training part of an ML-1M-shaped synthetic set (10% of the
# training ratings of bench/bench_peers.py's split), never on MovieLens;
# its validation curves are in bench/results/peers.json.
MF_PRESETS = {
    'book': MF,
    'fast': dict(MF, batch_size=8192, lr=0.007, lr_decay=0.5, wd=5e-6,
                 epochs=4, sparse_grad=True, bias_init='mean'),
}

# AutoRec (d2l): item-based, random 90/10 split, Adam.  ``formulation`` is
# not the book's but how the same model is computed: 'auto' keeps the book's
# dense rows on ML-100K and ML-1M (see data.rows.choose_formulation).
AUTOREC = dict(split='random', test_ratio=0.1, num_hiddens=500, dropout=0.05,
               variant='item', epochs=25, lr=0.002, wd=1e-5, batch_size=256,
               formulation='auto', bias_init='normal', lr_decay=1.0)

# Ranking: the book's NeuMF section, and the NCF paper / its code.
PROTOCOL_DEFAULTS = {
    'book': dict(loss='bpr', num_factors=10, nums_hiddens=(10, 10, 10),
                 mlp_factors=None, lr=0.01, wd=1e-5, epochs=10,
                 batch_size=1024, num_negatives=1, top_k=50,
                 prediction_bias=False),
    'ncf': dict(loss='bce', num_factors=8, nums_hiddens=(32, 16, 8),
                mlp_factors=32, lr=0.001, wd=0.0, epochs=20, batch_size=256,
                num_negatives=4, top_k=10, prediction_bias=True),
}
RANKING = dict(model='neumf', protocol='ncf', num_test_negatives=99,
               alpha=0.5, dense_init='xavier')

# Caser (d2l, "Sequence-Aware Recommender Systems"; Tang & Wang, 2018):
# windows of L = 5 items, d = 16 horizontal filters per height, d' = 4
# vertical ones, k = 10 factors, dropout 0.05, BPR with Adam at lr 0.04,
# wd 1e-5, batches of 4,096, 8 epochs, the book's protocol (its Hit@50 and
# AUC; the seq-aware split).
CASER = dict(num_factors=10, L=5, d=16, d_prime=4, dropout=0.05, lr=0.04,
             wd=1e-5, epochs=8, batch_size=4096, loss='bpr', top_k=50)

# Feature-rich click prediction (d2l, "Factorization Machines" and "Deep
# Factorization Machines"): Adam, batches of 2,048, 30 epochs; FM with k =
# 20 at lr 0.02, DeepFM with k = 10, an MLP of 30-20-10 and dropout 0.1 at
# lr 0.01.  The book sets no weight decay.  Logistic regression (the
# first-order part alone) takes FM's training settings.  Ratings become
# clicks at 4 stars and up; the split is random 8:1:1 (RecBole's context
# protocol when validation takes 1/9 of the training part, --valid-ratio).
FM = dict(num_factors=20, lr=0.02, wd=0.0, epochs=30, batch_size=2048,
          label_threshold=4, test_ratio=0.1)
DEEPFM = dict(FM, num_factors=10, mlp_dims=(30, 20, 10), dropout=0.1,
              lr=0.01)
LR = dict(FM, num_factors=None)

# Every run: the seed and where it runs.
COMMON = dict(seed=0, devices='auto', kvstore='device')

# The training lifecycle: the validation carve-out (a fraction of the
# training ratings under a random split) and checkpoints every epoch.
LIFECYCLE = dict(valid_ratio=0.1, checkpoint_every=1)

# Model initialisation, as the book: every weight from Normal(0.01).
INIT_SIGMA = 0.01

# Random-search spaces of ``d2l-recsys tune``: each model's ``options``
# and the ``source`` they come from.  No space was shaped by a pilot run: a
# pilot on ML-100K's u1.base would have read u2..u5's test ratings.  An
# option's spec is ['log', low, high] (log-uniform), ['int', low, high] or
# a list of choices; a choice that is a dict sets several options at once.
# Epochs are not searched: every trial runs up to TUNING['max_epochs'] with
# early stopping on its validation metric.  A leaderboard records its
# space and ``search_space.space_hash``; another space cannot resume it or be
# reported from it.
_AROUND_BOOK = ("around the book's settings for the model: the learning "
                "rate within a factor 5 of the book's, the weight decay "
                'within a factor 100 of it, ')
_NCF_GRID = ('the NCF paper\'s grids (He et al., 2017, section 4.1, '
             '"Parameter Settings"): learning rates 0.0001, 0.0005, 0.001, '
             '0.005, batch sizes 128 to 1,024, predictive factors 8 to 64; '
             'the NCF protocol\'s 4 negatives per positive and no weight '
             'decay stay fixed, as in the paper')
_NCF = dict(lr=[1e-4, 5e-4, 1e-3, 5e-3], batch_size=[128, 256, 512, 1024])
# The MLP tower of predictive factors f, as the NCF code builds it
# (layers [4f, 2f, f] on embeddings of 4f per side; f = 8 is the NCF
# protocol's default).
_TOWERS = [dict(mlp_factors=4 * f, nums_hiddens=[4 * f, 2 * f, f])
           for f in (8, 16, 32, 64)]
_FEATURES = ("around the book's FM and DeepFM settings (Adam, batches of "
             '2,048): the learning rate within a factor 5 of the book\'s, a '
             'weight decay from none (the book\'s) to 1e-4, ')
_FEATURE_OPTIONS = dict(lr=['log', 2e-3, 0.1], wd=[0.0, 1e-6, 1e-5, 1e-4])
SEARCH_SPACES = {
    'mf': dict(
        source=_AROUND_BOOK + '30 factors and batches of 512 inside the '
        'factor and batch ranges; both gradient forms of the package',
        options=dict(lr=['log', 4e-4, 1e-2], wd=['log', 1e-7, 1e-3],
                     num_factors=[10, 20, 30, 50, 100],
                     batch_size=[128, 256, 512, 1024],
                     sparse_grad=[False, True])),
    'autorec': dict(
        source=_AROUND_BOOK + '500 hidden units (also the AutoRec paper\'s), '
        'dropout 0.05 and batches of 256 inside their ranges',
        options=dict(lr=['log', 4e-4, 1e-2], wd=['log', 1e-7, 1e-3],
                     num_hiddens=[200, 300, 500, 800],
                     dropout=[0.0, 0.05, 0.1, 0.2, 0.3],
                     batch_size=[64, 128, 256, 512])),
    'gmf': dict(source=_NCF_GRID,
                options=dict(_NCF, num_factors=[8, 16, 32, 64])),
    'mlp': dict(source=_NCF_GRID + '; the tower of f predictive factors is '
                'the NCF code\'s, [4f, 2f, f]', options=dict(_NCF,
                                                           tower=_TOWERS)),
    'neumf': dict(source=_NCF_GRID + '; the MLP tower as for the MLP',
                  options=dict(_NCF, num_factors=[8, 16, 32, 64],
                               tower=_TOWERS)),
    'dmf': dict(source=_NCF_GRID, options=dict(_NCF,
                                               num_factors=[8, 16, 32, 64])),
    'caser': dict(
        source="around the book's Caser settings (lr 0.04, wd 1e-5, "
        'dropout 0.05, L 5, d 16, k 10): the learning rate within a factor '
        '5, the weight decay within a factor 100, and the Caser paper\'s '
        '(Tang & Wang, 2018, section 4.3) ranges of L (1 to 9), d (4 to '
        '64) and dropout (0 to 0.9) cut to values the book\'s settings sit '
        'among',
        options=dict(lr=['log', 8e-3, 0.2], wd=['log', 1e-7, 1e-3],
                     L=[3, 5, 7, 9], d=[4, 8, 16, 32],
                     num_factors=[10, 20, 50],
                     dropout=[0.0, 0.05, 0.2, 0.5])),
    'fm': dict(source=_FEATURES + '20 factors inside the factor range',
               options=dict(_FEATURE_OPTIONS, num_factors=[5, 10, 20, 40]),
               ),
    'deepfm': dict(source=_FEATURES + '10 factors, the 30-20-10 MLP and '
                   'dropout 0.1 inside their ranges', options=dict(
                       _FEATURE_OPTIONS, num_factors=[5, 10, 20],
                       mlp_dims=[[30, 20, 10], [64, 32], [100, 100, 100]],
                       dropout=[0.0, 0.1, 0.3])),
    'lr': dict(source=_FEATURES.rstrip(', '),
               options=dict(_FEATURE_OPTIONS)),
}
TUNING = dict(max_epochs=100, patience=5, trials=20)
