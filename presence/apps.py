from django.apps import AppConfig


class PresenceConfig(AppConfig):
    name = "presence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat.selectors import register_read_watermarks
        from presence import handlers  # noqa: F401  (hooks presence into the socket)
        from presence.receipts import read_watermarks

        register_read_watermarks(read_watermarks)
