from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import (
            handlers,  # noqa: F401  (registers chat's socket frames)
            signals,  # noqa: F401  (closes sockets whose credentials end)
        )
