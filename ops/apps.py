from django.apps import AppConfig


class OpsConfig(AppConfig):
    """What operators and orchestrators ask: health, readiness, metrics and the doctor."""

    name = "ops"
    verbose_name = "Operations"
