"""docker-compose.yml, checked without a Docker engine (docs/deploy.md).

- It is a valid Compose file: the Compose Specification's JSON schema (vendored, see README.md).
- Every variable it sets for an app container is one echostream/settings.py reads, so a typo
  (`REDIS_URI`) fails here instead of being silently ignored in production.
- Secrets have no default: `${SECRET_KEY:?...}`, never a value someone else could know.
- Nothing is shared between containers through files: no volume is mounted by two services, no
  bind mounts; of the app containers only `web` mounts one (the attachments; see docs/deploy.md).
- Each role's health check calls its own /readyz, on the port its settings give it.
- Every depends_on target exists; the roles wait for the one-shot migrate to succeed.

Each rule is a function returning what breaks it, run on the real file and, to show that it can
fail, on a copy broken on purpose.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COMPOSE_FILE = REPO / "docker-compose.yml"
SCHEMA_FILE = HERE / "compose-spec.schema.json"
SCHEMA_SHA256 = "1f91e091f16b2dd50ab8860e02bb391d22df553d91c145eacedb1b6eff9c3f0e"

# The roles (Procfile) and the port each one's /healthz, /readyz and /metrics answer on: the web
# role's own HTTP port, and for the workers the setting that names their metrics port.
ROLES = ("web", "moderation", "bridge")
WEB_PORT = 8000
WORKER_PORT_SETTINGS = {"moderation": "MODERATION_METRICS_PORT", "bridge": "BRIDGE_METRICS_PORT"}
# The only volume an app container may mount, and which one (docs/deploy.md, "Attachments").
APP_VOLUMES = {"web": {"media"}}
# Variables that must be given, never defaulted.
REQUIRED_SECRETS = {"SECRET_KEY", "POSTGRES_PASSWORD"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt}; $$ escapes.
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


# --- Reading ---------------------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    # safe_load resolves anchors and `<<` merge keys the way Compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture
def broken() -> dict[str, Any]:
    """A fresh copy of the compose file to break on purpose."""
    return copy.deepcopy(load_compose())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run EchoStream's image (migrate and the roles): those built from here."""
    return {name: service for name, service in compose["services"].items() if "build" in service}


def environment(service: dict[str, Any]) -> dict[str, str]:
    value = service.get("environment") or {}
    if isinstance(value, list):
        value = dict(item.split("=", 1) if "=" in item else (item, None) for item in value)
    return {str(name): "" if setting is None else str(setting) for name, setting in value.items()}


def settings_read_names(source: str) -> set[str]:
    """The environment variables settings.py reads: env("X"), env.int("X"), env.bool, env.list,
    env.float, env.db… (django-environ's `env`), the names environ.Env(...) declares, and any
    os.environ / os.getenv reads, and calls of settings.py's own readers (a function that hands its
    first parameter to env, such as `_amount`)."""
    names: set[str] = set()
    tree = ast.parse(source)
    readers = _env_readers(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            names.update(_first_string([node.slice]))
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        reads_env = (isinstance(func, ast.Name) and func.id in {"env", *readers}) or (
            isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env"
        )
        reads_os = (isinstance(func, ast.Attribute) and func.attr == "getenv" and _is_name(func.value, "os")) or (
            isinstance(func, ast.Attribute) and func.attr == "get" and _is_os_environ(func.value)
        )
        if reads_env or reads_os:
            names.update(_first_string(node.args))
        if isinstance(func, ast.Attribute) and func.attr == "Env" and _is_name(func.value, "environ"):
            names.update(keyword.arg for keyword in node.keywords if keyword.arg)
    return names


def _env_readers(tree: ast.Module) -> set[str]:
    """Functions of the module that read the environment variable their first parameter names."""
    readers = set()
    for function in tree.body:
        if not isinstance(function, ast.FunctionDef) or not function.args.args:
            continue
        parameter = function.args.args[0].arg
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and _is_name(node.func.value, "env")
                and node.args
                and _is_name(node.args[0], parameter)
            ):
                readers.add(function.name)
    return readers


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _is_os_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and _is_name(node.value, "os")


def _first_string(args: list[ast.expr]) -> set[str]:
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        return {args[0].value}
    return set()


@pytest.fixture(scope="module")
def settings_names() -> set[str]:
    return settings_read_names((REPO / "echostream" / "settings.py").read_text())


def command_tokens(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(token) for token in command]


def healthcheck_text(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test", [])
    return test if isinstance(test, str) else " ".join(str(token) for token in test)


def without_interpolations(value: str) -> str:
    """The value with each ${...} replaced by a placeholder, so that it parses as a URL (an
    interpolation's error message may hold a `/` or a `:`)."""
    return INTERPOLATION.sub(lambda match: f"__{match['name']}__", value)


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) of each mount, short or long syntax."""
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            mounts.append((entry.get("type", "volume"), str(entry.get("source", "")), str(entry["target"])))
            continue
        parts = entry.split(":")
        if len(parts) == 1:
            mounts.append(("volume", "", parts[0]))  # anonymous: this container's alone
            continue
        source, target = parts[0], parts[1]
        kind = "bind" if source.startswith(("/", ".", "~", "$")) else "volume"
        mounts.append((kind, source, target))
    return mounts


# --- The rules (each returns what breaks it) ---------------------------------------------------


def schema_errors(validator: jsonschema.Draft7Validator, compose: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '(top)'}: {error.message}"
        for error in validator.iter_errors(compose)
    ]


def unknown_settings(compose: dict[str, Any], settings_names: set[str]) -> dict[str, list[str]]:
    unknown = {}
    for name, service in app_services(compose).items():
        extra = sorted(set(environment(service)) - settings_names)
        if extra:
            unknown[name] = extra
    return unknown


def secret_problems(compose_text: str, compose: dict[str, Any]) -> list[str]:
    problems = []
    references = list(INTERPOLATION.finditer(compose_text))
    for name in sorted(REQUIRED_SECRETS):
        uses = [match for match in references if match["name"] == name]
        if not uses:
            problems.append(f"${{{name}}} is never used")
        problems += [
            f"{match[0]} must be required: ${{{name}:?why}}" for match in uses if match["op"] not in (":?", "?")
        ]
    for match in references:
        if SECRET_NAME.search(match["name"]) and match["op"] in (":-", "-") and match["arg"]:
            problems.append(f"{match[0]}: a secret never has a default value")
    for service_name, service in compose["services"].items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and value and not INTERPOLATION.fullmatch(value):
                problems.append(f"{service_name}: {key} is written in the file; take it from the environment")
            password = urlsplit(without_interpolations(value)).password if "://" in value else None
            if password and not re.fullmatch(r"__[A-Za-z_][A-Za-z0-9_]*__", password):
                problems.append(f"{service_name}: {key} has a password written in the file")
    return problems


def sharing_problems(compose: dict[str, Any]) -> list[str]:
    problems = []
    users: dict[str, list[str]] = {}
    apps = app_services(compose)
    for name, service in compose["services"].items():
        if service.get("volumes_from"):
            problems.append(f"{name}: volumes_from shares another container's files")
        for kind, source, target in volume_mounts(service):
            if kind != "volume":
                problems.append(f"{name}: {kind} mount {source or target}: files from outside the volumes")
            elif source:
                users.setdefault(source, []).append(name)
                if source not in (compose.get("volumes") or {}):
                    problems.append(f"{name}: volume {source} is not declared")
        if name in apps:
            mounted = {source for kind, source, _ in volume_mounts(service) if kind == "volume" and source}
            if mounted - APP_VOLUMES.get(name, set()):
                problems.append(f"{name}: an app container mounts {sorted(mounted)}")
    problems += [
        f"volume {volume} is mounted by {', '.join(names)}" for volume, names in users.items() if len(names) > 1
    ]
    return problems


def healthcheck_problems(compose: dict[str, Any]) -> list[str]:
    problems = []
    services = compose["services"]
    for role in ROLES:
        service = services.get(role)
        if service is None:
            problems.append(f"no service {role}")
            continue
        if role == "web":
            port = str(WEB_PORT)
        else:
            port = environment(service).get(WORKER_PORT_SETTINGS[role], "")
        check = healthcheck_text(service)
        if f"http://127.0.0.1:{port}/readyz" not in check:
            problems.append(f"{role}: the health check {check!r} does not call /readyz on port {port or '?'}")
        if (service.get("healthcheck") or {}).get("disable"):
            problems.append(f"{role}: the health check is disabled")
        # python:3.11-slim has no curl or wget.
        if re.search(r"\b(curl|wget)\b", check):
            problems.append(f"{role}: the image has no curl or wget")
    return problems


def dependency_problems(compose: dict[str, Any]) -> list[str]:
    problems = []
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {target: {"condition": "service_started"} for target in depends}
        for target, options in depends.items():
            if target not in services:
                problems.append(f"{name} depends on {target}, which is no service")
                continue
            condition = (options or {}).get("condition", "service_started")
            if condition == "service_healthy" and "healthcheck" not in services[target]:
                problems.append(f"{name} waits for {target} to be healthy, which has no health check")
    for role in ROLES:
        condition = ((services.get(role, {}).get("depends_on") or {}).get("migrate") or {}).get("condition")
        if condition != "service_completed_successfully":
            problems.append(f"{role} does not wait for migrate to succeed")
    return problems


# --- The real file -----------------------------------------------------------------------------


def test_the_vendored_schema_is_the_one_the_readme_names():
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert SCHEMA_SHA256 in (HERE / "README.md").read_text()


def test_the_compose_file_is_valid_against_the_compose_specification(compose, validator):
    assert schema_errors(validator, compose) == []


def test_every_variable_set_for_an_app_container_is_read_by_the_settings(compose, settings_names):
    assert unknown_settings(compose, settings_names) == {}


def test_secrets_have_no_default_and_are_not_written_in_the_file(compose):
    assert secret_problems(COMPOSE_FILE.read_text(), compose) == []


def test_no_files_are_shared_between_containers(compose):
    assert sharing_problems(compose) == []


def test_each_role_has_a_health_check_calling_its_readyz(compose):
    assert healthcheck_problems(compose) == []


def test_every_dependency_exists_and_the_roles_wait_for_migrate(compose):
    assert dependency_problems(compose) == []


def test_the_services_the_roles_need_are_there_with_data_and_health_checks(compose):
    services = compose["services"]
    for name, image in {
        "kafka": "apache/kafka:",
        "redis": "redis:",
        "mongodb": "mongo:",
        "postgres": "postgres:",
    }.items():
        assert services[name]["image"].startswith(image), name
        assert "healthcheck" in services[name], name
        assert any(kind == "volume" and source for kind, source, _ in volume_mounts(services[name])), name
    assert "--appendonly" in command_tokens(services["redis"]["command"])
    assert "kafka-" in healthcheck_text(services["kafka"])
    assert "pg_isready" in healthcheck_text(services["postgres"])
    assert "mongosh" in healthcheck_text(services["mongodb"])
    assert "redis-cli ping" in healthcheck_text(services["redis"])


def test_the_app_containers_point_at_those_services_and_no_sqlite(compose):
    services = compose["services"]
    assert "sqlite" not in COMPOSE_FILE.read_text().lower()
    for name, service in app_services(compose).items():
        env = {key: without_interpolations(value) for key, value in environment(service).items()}
        database = urlsplit(env["DATABASE_URL"])
        assert database.scheme in ("postgres", "postgresql", "pgsql"), name
        assert (database.hostname, database.port) == ("postgres", 5432), name
        assert urlsplit(env["REDIS_URL"]).hostname in services, name
        assert urlsplit(env["MONGODB_URI"]).hostname in services, name
        assert all(server.split(":")[0] in services for server in env["KAFKA_BOOTSTRAP_SERVERS"].split(",")), name
        assert env["DEBUG"] == "false", name
        assert env["METRICS_BIND_ADDRESS"] == "0.0.0.0", name
    media_target = {target for _, source, target in volume_mounts(services["web"]) if source == "media"}
    assert media_target == {environment(services["web"])["MEDIA_ROOT"]}


def test_migrate_runs_once_before_the_roles(compose):
    migrate = compose["services"]["migrate"]
    assert command_tokens(migrate["command"])[-3:] == ["manage.py", "migrate", "--noinput"]
    assert str(migrate.get("restart", "no")) == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for role in ROLES:
        assert compose["services"][role]["restart"] in ("always", "unless-stopped", "on-failure"), role


def test_each_role_runs_what_the_procfile_runs(compose):
    def essential(tokens: list[str]) -> list[str]:
        # The bind address and port differ by design (loopback on a laptop, 0.0.0.0 in a container).
        kept, skip = [], False
        for token in tokens:
            if skip:
                skip = False
            elif token in ("-b", "-p"):
                skip = True
            else:
                kept.append(token)
        return kept

    procfile = dict(line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines() if line.strip())
    assert set(procfile) == set(ROLES)
    for role, command in procfile.items():
        assert essential(command_tokens(compose["services"][role]["command"])) == essential(shlex.split(command)), role
    web = command_tokens(compose["services"]["web"]["command"])
    assert web[web.index("-b") + 1] == "0.0.0.0"
    assert web[web.index("-p") + 1] == str(WEB_PORT)
    assert any(str(port).endswith(f":{WEB_PORT}") for port in compose["services"]["web"]["ports"])


def test_the_image_runs_as_a_user_and_exposes_the_role_ports():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN pip install( --no-cache-dir)? -r requirements\.txt", dockerfile, re.MULTILINE)
    assert "collectstatic" in dockerfile
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    exposed = {port for line in re.findall(r"^EXPOSE\s+(.+)$", dockerfile, re.MULTILINE) for port in line.split()}
    assert {str(WEB_PORT), "9101", "9102"} <= exposed
    # The compose variables (SECRET_KEY, POSTGRES_PASSWORD) may live in .env: never copy it into the image.
    assert ".env" in (REPO / ".dockerignore").read_text().split()


# --- The rules can fail ------------------------------------------------------------------------


def test_the_schema_refuses_a_misspelt_key_and_an_unknown_condition(broken, validator):
    broken["services"]["web"]["helthcheck"] = broken["services"]["web"].pop("healthcheck")
    broken["services"]["bridge"]["depends_on"]["kafka"]["condition"] = "service_ready"
    errors = schema_errors(validator, broken)
    assert any("helthcheck" in error for error in errors)
    assert any("service_ready" in error for error in errors)


def test_a_misspelt_setting_is_caught(broken, settings_names):
    # The app containers share one environment mapping (a YAML anchor): give bridge its own.
    bridge = broken["services"]["bridge"]
    bridge["environment"] = {**bridge["environment"], "REDIS_URI": "redis://redis:6379/0"}
    before = unknown_settings(load_compose(), settings_names)
    after = unknown_settings(broken, settings_names)
    assert after == {**before, "bridge": sorted([*before.get("bridge", []), "REDIS_URI"])}


def test_the_settings_parser_sees_every_kind_of_read(settings_names):
    # env(...), env.db, env.int, env.float, env.list, env.bool, and the Env(...) declaration
    assert {"SECRET_KEY", "DATABASE_URL", "ATTACHMENT_MAX_BYTES", "RATE_LIMIT_PER_SECOND"} <= settings_names
    assert {"CSRF_TRUSTED_ORIGINS", "SECURE_SSL_REDIRECT", "DEBUG", "ALLOWED_HOSTS"} <= settings_names
    source = """
import os
import environ
env = environ.Env(A=(bool, True))
B = os.environ.get("B")
C = os.getenv("C")
D = os.environ["D"]
E = env.str("E")
def _seconds(name, default):
    return env.float(name, default=default)
F = _seconds("F", 1.0)
"""
    assert settings_read_names(source) == {"A", "B", "C", "D", "E", "F"}
    assert "REDIS_URI" not in settings_names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SECRET_KEY: ${SECRET_KEY:-changeme}", "must be required"),
        ("SECRET_KEY: ${SECRET_KEY}", "must be required"),
        ("METRICS_TOKEN: ${METRICS_TOKEN:-letmein}", "never has a default value"),
    ],
)
def test_a_defaulted_secret_is_caught(compose, text, expected):
    # The real file with one more line: the rule reads the text, where interpolations live.
    problems = secret_problems(COMPOSE_FILE.read_text() + f"\n# {text}\n", compose)
    assert any(expected in problem for problem in problems), problems


def test_a_secret_written_in_the_file_is_caught(broken):
    broken["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] = "hunter2"
    broken["services"]["web"]["environment"]["DATABASE_URL"] = "postgres://echostream:hunter2@postgres:5432/echostream"
    problems = secret_problems(COMPOSE_FILE.read_text(), broken)
    assert any("postgres: POSTGRES_PASSWORD is written" in problem for problem in problems)
    assert any("web: DATABASE_URL has a password" in problem for problem in problems)


def test_a_shared_volume_or_bind_mount_is_caught(broken):
    broken["services"]["bridge"]["volumes"] = ["media:/var/lib/echostream/media"]
    broken["services"]["moderation"]["volumes"] = ["./data:/data"]
    problems = sharing_problems(broken)
    assert "volume media is mounted by web, bridge" in problems
    assert any("bridge: an app container mounts" in problem for problem in problems)
    assert any("moderation: bind mount ./data" in problem for problem in problems)


def test_a_health_check_on_the_wrong_port_or_path_is_caught(broken):
    broken["services"]["bridge"]["healthcheck"]["test"] = [
        "CMD",
        "python",
        "-m",
        "echostream.healthcheck",
        "http://127.0.0.1:9101/readyz",
    ]
    broken["services"]["web"]["healthcheck"]["test"] = ["CMD", "curl", "-f", "http://127.0.0.1:8000/healthz"]
    problems = healthcheck_problems(broken)
    assert any(problem.startswith("bridge: the health check") for problem in problems)
    assert any(problem.startswith("web: the health check") for problem in problems)
    assert "web: the image has no curl or wget" in problems


def test_a_missing_dependency_is_caught(broken):
    broken["services"]["web"]["depends_on"] = {"kafak": {"condition": "service_healthy"}}
    del broken["services"]["redis"]["healthcheck"]
    problems = dependency_problems(broken)
    assert "web depends on kafak, which is no service" in problems
    assert "web does not wait for migrate to succeed" in problems
    assert "bridge waits for redis to be healthy, which has no health check" in problems
