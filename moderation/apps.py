from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import services as chat_services
        from moderation import actions, signals  # noqa: F401  (signals: connects its receivers)
        from moderation.services import check_send_allowed

        # Nobody is added to a room they are banned from.
        chat_services.register_member_check(actions.refuse_banned_member)
        # A muted or banned user's send or edit is refused by the web at once, not after a
        # round trip through Kafka and the worker (which checks again: a record may be forged).
        chat_services.register_send_check(check_send_allowed)
