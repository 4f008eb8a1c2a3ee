from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import services as chat_services
        from moderation import actions

        # Nobody is added to a room they are banned from.
        chat_services.register_member_check(actions.refuse_banned_member)
