"""The reproduction report: published configurations run over seeds and
compared with the published numbers, and the configurations chosen by
searches on validation data.

Every row is a declaration (``rows``: ``Row`` and ``Tuned``), run by one
generic runner (``runner``) through ``runs.run`` and ``runs.reevaluate``;
``tuned`` builds a tuned row's options from its leaderboards (``boards``);
``reproduce`` runs a whole report and ``report`` writes it
(``REPRODUCTION.md``, the figure, the README's tables).  Adding a row is
adding a declaration.
"""
