"""Every loss of the project.  ``MaskedL2Loss`` is AutoRec's (d2l, chapter
"AutoRec"), ``ObservedL2Loss`` the same for its sparse formulation; the
ranking losses follow the chapter "Personalized Ranking for Recommender
Systems".  Each returns one value per example; ``trainer.step(batch_size)``
then averages, as the book's per-batch sums do.  ``pairwise`` tells the
training loop whether a batch is ``(u, i, j)`` or ``(u, i, label)``."""
from mxnet import gluon, np

from .csr import Entries, RowSums, is_csr


class MaskedL2Loss(gluon.loss.Loss):
    """The book's AutoRec objective: ``L2Loss(pred * sign(r), r)`` -- per row,
    half the mean squared error over all columns, counting only observed
    entries (``r != 0``)."""

    def __init__(self, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)

    def hybrid_forward(self, F, pred, label):
        err = F.np.sign(label) * pred - label
        return 0.5 * F.np.mean(err * err, axis=1)


class ObservedL2Loss(gluon.loss.Loss):
    """``MaskedL2Loss`` for the sparse formulation: ``loss(pred, rows)``
    with ``pred`` (nnz,) the predictions at the stored entries of the CSR
    rows ``rows`` (B, n).  Per row: half the squared error summed over the
    observed entries, divided by ``n`` (``MaskedL2Loss`` takes the mean
    over all ``n`` columns).  Returns ``(B,)``."""

    def __init__(self, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)

    def forward(self, pred, rows):
        if not is_csr(rows):
            raise ValueError('ObservedL2Loss scores CSR rows; use '
                             'MaskedL2Loss for dense rows')
        err = pred - rows.data.as_np_ndarray()
        entries = Entries(rows)
        if not entries.nnz:     # nothing observed: zero, still on the graph
            return np.zeros(rows.shape[0], ctx=rows.context) + 0 * err.sum()
        return RowSums(entries)(err * err) * (0.5 / rows.shape[1])


class BPRLoss(gluon.loss.Loss):
    """Bayesian personalized ranking: ``-log sigmoid(s_ui - s_uj)``
    (Rendle et al., 2009), computed as ``softplus(s_uj - s_ui)``.

    Call it as ``loss(positive_scores, negative_scores)``, both ``(B,)``;
    it returns ``(B,)`` losses.
    """
    pairwise = True

    def __init__(self, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)

    def hybrid_forward(self, F, positive, negative):
        return F.npx.activation(negative - positive, act_type='softrelu')


class HingeLossbRec(gluon.loss.Loss):
    """Hinge ranking loss: ``max(margin - (s_ui - s_uj), 0)``.

    Args:
        margin: the score gap below which a pair is penalised.
    """
    pairwise = True

    def __init__(self, margin=1.0, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)
        self.margin = margin

    def hybrid_forward(self, F, positive, negative):
        return F.np.maximum(self.margin - (positive - negative), 0)


class PointwiseBCELoss(gluon.loss.SigmoidBinaryCrossEntropyLoss):
    """NCF's log loss on (score, 0/1 label) pairs.  ``from_sigmoid=False``
    (scores are logits) computes it stably; pass True for a model whose
    output already went through a sigmoid."""
    pairwise = False


LOSSES = {'bce': PointwiseBCELoss, 'bpr': BPRLoss, 'hinge': HingeLossbRec}
