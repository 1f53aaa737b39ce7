"""Shared code of the course notebooks: data, models, training, evaluation and plots.

Each idea lives in one module named after it (``helpers.data``, ``helpers.train``, ...).
"""
