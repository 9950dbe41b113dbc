"""The deployment files (issue 19): what `docker build` may put in the image, how the
Dockerfile builds it, and what compose.yaml runs. Checked from the files themselves, so
they hold where no Docker engine runs (README's "Deployment" says how the image was tried
end to end)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.dockerignore import build_context, excluded, patterns

ROOT = Path(__file__).resolve().parent.parent
RULES = patterns((ROOT / ".dockerignore").read_text())


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.production",
        "prod.env",
        "deploy/.env",  # anywhere, not only at the root
        "deploy/staging/.env.local",
        "certs/server.pem",
        "certs/server.key",
        ".venv/bin/python",
        "postdesk-data/postdesk.db",
        "postdesk-data/secret_key",
        "postdesk-data/attachments/ab/cd",
        "data/postdesk.db",
        "old/postdesk.db-wal",
        ".git/config",
        "build/lib/desk/config.py",
        "dist/postdesk-0.1.0-py3-none-any.whl",
        "postdesk.egg-info/PKG-INFO",
        "desk/__pycache__/config.cpython-311.pyc",
        "web/handlers/__pycache__/health.cpython-311.pyc",
        "tests/conftest.py",
        ".mypy_cache/3.11/desk/config.data.json",
    ],
)
def test_the_build_context_leaves_out_secrets_data_and_build_output(path: str) -> None:
    assert excluded(path, RULES)


def test_the_build_context_holds_what_the_image_installs() -> None:
    sent = set(build_context(ROOT))
    assert {"pyproject.toml", "README.md", "Dockerfile"} <= sent  # README: the package's readme
    for package in ("daemon", "desk", "web", "migrations"):
        files = [
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ]
        assert files and set(files) <= sent, package


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions in order, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_dockerfile_installs_dependencies_first_and_runs_unprivileged() -> None:
    steps = instructions()
    order = [f"{k} {v}" for k, v in steps]
    copy_deps = order.index("COPY pyproject.toml ./")
    install_deps = next(i for i, s in enumerate(order) if "pip install -r" in s)
    copy_source = order.index("COPY . .")
    assert copy_deps < install_deps < copy_source  # a code change keeps the dependency layer
    users = [v for k, v in steps if k == "USER"]
    assert (
        users and users[-1] not in ("root", "0") and order.index(f"USER {users[-1]}") > copy_source
    )
    [health] = [v for k, v in steps if k == "HEALTHCHECK"]
    assert "/readyz" in health
    assert [v for k, v in steps if k == "CMD"][-1] == '["postdesk", "run"]'
    baked = [v for k, v in steps if k in ("ENV", "ARG")]
    assert not [v for v in baked if re.search(r"SECRET|PASSWORD|TOKEN|_KEY", v, re.I)], baked


def test_compose_runs_the_roles_restarted_with_the_secret_from_an_env_file() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    postdesk = {n: s for n, s in services.items() if s.get("build")}
    roles = sorted(s["command"][-1] for s in postdesk.values())
    assert roles == ["jobs", "smtp", "web", "web"]
    for name, service in services.items():
        assert service.get("restart") == "unless-stopped", name
    for name, service in postdesk.items():
        assert [e["path"] for e in service["env_file"]] == [".env"], name
        assert "POSTDESK_SECRET_KEY" not in service.get("environment", {}), name
        # Each replica is probed: the web ones on their HTTP port, the others on the
        # metrics port, which serves /readyz too.
        assert not service.get("healthcheck", {}).get("disable"), name
        if service["command"][-1] != "web":  # the image's HEALTHCHECK asks the HTTP port
            port = service["environment"]["POSTDESK_METRICS_PORT"]
            assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"]), name
