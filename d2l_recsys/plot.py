"""Plotly figures: training curves and a tuning leaderboard."""
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .files import atomic_write

LABELS = {'train_loss': 'train loss', 'test_rmse': 'test RMSE', 'auc': 'AUC'}


def _label(name):
    return LABELS.get(name, name.replace('_', ' '))


def curves_figure(history, title='', metrics=('train_loss', 'test_rmse')):
    """Training curves, as the book's animated plot but static.

    Args:
        history: a list of per-epoch dicts (``train_loop``'s history).
        title: the figure's title.
        metrics: the keys to plot, one panel each; epochs without a value
            (not evaluated) are skipped.

    Returns:
        A plotly figure.
    """
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
    """Write a figure as a self-contained HTML file, atomically.

    Args:
        fig: a plotly figure.
        path: the ``.html`` file; plotly.js is inlined, so it works offline.
    """
    atomic_write(path, lambda tmp: fig.write_html(
        tmp, include_plotlyjs=True, full_html=True))


def leaderboard_figure(board):
    """A random search at a glance: the validation metric of each trial in
    the order run, and against each searched hyperparameter (log axes for
    log-uniform ones).

    Args:
        board: the leaderboard dict of ``tuning.tune``.

    Returns:
        A plotly figure.
    """
    trials = sorted(board['trials'], key=lambda t: t['trial'])
    names = list(board['space'])
    fig = make_subplots(rows=1, cols=1 + len(names),
                        subplot_titles=['by trial'] + names)
    values = [t['value'] for t in trials]
    fig.add_trace(go.Scatter(x=[t['trial'] for t in trials], y=values,
                             mode='markers'), row=1, col=1)
    for col, name in enumerate(names, 2):
        spec = board['space'][name]
        if isinstance(spec[0], dict):       # options drawn together
            xs = [' '.join(str(t['config'][k]) for k in spec[0])
                  for t in trials]
        else:
            xs = [t['config'][name] for t in trials]
        xs = [','.join(map(str, x)) if isinstance(x, list) else x
              for x in xs]
        fig.add_trace(go.Scatter(x=xs, y=values, mode='markers'), row=1,
                      col=col)
        if board['space'][name][0] == 'log':
            fig.update_xaxes(type='log', row=1, col=col)
    fig.update_yaxes(title_text=_label(board['metric']), row=1, col=1)
    fig.update_layout(title=f"{board['model']}: {len(trials)} trials, "
                            f"chosen on {_label(board['metric'])}",
                      showlegend=False, template='plotly_white',
                      height=380, width=max(700, 260 * (1 + len(names))))
    return fig
