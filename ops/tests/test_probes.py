"""The database probe asks with a connection of its own, and changes nothing for the others."""

import pytest
from django.conf import settings

from ops import probes


@pytest.mark.django_db
def test_the_database_probe_answers_and_leaves_the_settings_as_they_were():
    before = dict(settings.DATABASES["default"].get("OPTIONS", {}))

    result = probes.probe("postgres", timeout=1)

    assert result == probes.ProbeResult(service="postgres", ok=True)
    assert settings.DATABASES["default"].get("OPTIONS", {}) == before
