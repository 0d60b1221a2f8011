"""aione hub: settings, spawner, GPU allocation, cohorts and the ``aione`` CLI."""

__version__ = "0.1.0"
