"""Django discovers admins here: importing the web admin modules registers their model admins."""

from media_analysis.web.admin import clusters, jobs, tokens  # noqa: F401
