"""Visualisation: toy-problem plots, training curves and the offline HTML run report.

Usage::

    from ganforge.viz import decision_surface, plot_curves, plot_toy, toy_bounds, write_report
"""

from ganforge.viz.report import write_report
from ganforge.viz.toy import decision_surface, plot_curves, plot_toy, toy_bounds

__all__ = ["decision_surface", "plot_curves", "plot_toy", "toy_bounds", "write_report"]
