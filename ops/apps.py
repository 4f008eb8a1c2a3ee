from django.apps import AppConfig


class OpsConfig(AppConfig):
    """What operators and orchestrators ask: health, readiness, metrics and the doctor."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from echostream.core import metrics_server
        from ops import health

        # The workers' metrics ports answer /readyz as the web does.
        metrics_server.register_readiness(health.readiness)
