from django.apps import AppConfig


class PresenceConfig(AppConfig):
    name = "presence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat.selectors import register_member_statuses, register_read_watermarks
        from presence import handlers  # noqa: F401  (hooks presence into the socket)
        from presence.receipts import read_watermarks
        from presence.selectors import member_statuses

        register_read_watermarks(read_watermarks)
        register_member_statuses(member_statuses)
