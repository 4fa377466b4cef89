"""Deterministic sample data: one ground truth (:mod:`aifinops.samples.truth`) rendered by
one writer per export format (``aifinops.samples.<format>.write(truth, out_dir)``) and
assembled by :func:`aifinops.samples.build.build` (``python -m aifinops.samples``).

Example:
    >>> from aifinops.samples.truth import ground_truth
    >>> len(ground_truth(months=1)) > 1000
    True
"""

__all__: list[str] = []
