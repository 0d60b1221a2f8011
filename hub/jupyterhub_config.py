"""JupyterHub configuration for aione: load the validated settings, apply them.

Everything an operator sets lives in the settings file (see hub/settings.py);
this file only loads and applies it.
"""

from hub.configure import apply
from hub.hubconfig import prepare, settings_from_environment

settings = settings_from_environment()
apply(c, settings, prepare(settings))  # type: ignore[name-defined]  # noqa: F821
