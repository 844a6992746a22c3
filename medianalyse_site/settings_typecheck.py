"""Settings for mypy's Django plugin, which imports them to read the models and serves nothing.

The real settings refuse to load without a secret key when DEBUG is off; this key signs nothing.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "type-checking-only")

from medianalyse_site.settings import *  # noqa: F403
