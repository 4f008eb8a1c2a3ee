from django.apps import AppConfig


class ReplayConfig(AppConfig):
    name = "replay"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from replay import handlers  # noqa: F401  (registers the resume frame)
