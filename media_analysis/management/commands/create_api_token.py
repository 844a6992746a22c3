"""Create an API token for a user and print its key, the one time it can be read."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from media_analysis.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print its key (stored as a digest: shown only now)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the token is for")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        _, key = ApiToken.issue(user, name)
        self.stdout.write(key)
