"""Plotly training curves."""
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .io import atomic_write

LABELS = {'train_loss': 'train loss', 'test_rmse': 'test RMSE', 'auc': 'AUC'}


def _label(name):
    return LABELS.get(name, name.replace('_', ' '))


def curves_figure(history, title='', metrics=('train_loss', 'test_rmse')):
    """One panel per metric of ``history`` (a list of per-epoch dicts)
    against the epoch: by default train loss and test RMSE, as the book's
    animated plot.  Epochs without a value (not evaluated) are skipped."""
    fig = make_subplots(rows=1, cols=len(metrics),
                        subplot_titles=[_label(m) for m in metrics])
    for col, name in enumerate(metrics, 1):
        points = [(h['epoch'], h[name]) for h in history
                  if h.get(name) is not None]
        fig.add_trace(go.Scatter(x=[e for e, _ in points],
                                 y=[v for _, v in points],
                                 mode='lines+markers',
                                 name=_label(name)), row=1, col=col)
        fig.update_xaxes(title_text='epoch', row=1, col=col)
    fig.update_layout(title=title, height=380, showlegend=False,
                      template='plotly_white')
    return fig


def save_figure(fig, path):
    """Write a self-contained HTML file (plotly.js inlined: works offline)."""
    atomic_write(path, lambda tmp: fig.write_html(
        tmp, include_plotlyjs=True, full_html=True))
