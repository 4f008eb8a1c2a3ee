from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A muted or banned user's send or edit is refused by the web at once, not after a
        # round trip through Kafka and the worker (which checks again: a record may be forged).
        from chat.services import register_send_check
        from moderation.services import check_send_allowed

        register_send_check(check_send_allowed)
