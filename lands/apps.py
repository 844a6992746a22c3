from django.apps import AppConfig


class LandsConfig(AppConfig):
    name = "lands"
    verbose_name = "Lands (corpora)"
