"""What a newcomer and the container rely on: pinned dependencies, each explained;
the Makefile targets; the Dockerfile's stages, user, health check and entrypoint."""

import re

from tests.conftest import ROOT


def requirements(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-r"))]


def test_every_dependency_is_pinned_and_explained():
    readme = (ROOT / "README.md").read_text()
    deps = readme[readme.index("## Dependencies"):]
    for line in requirements("requirements.txt") + requirements("requirements-dev.txt"):
        name, sep, version = line.partition("==")
        assert sep and re.fullmatch(r"[0-9][0-9A-Za-z.]*", version), f"{line} is not pinned"
        assert f"`{name}`" in deps, f"README Dependencies does not say why {name} is there"


def test_wsgi_only_creates_the_app():
    code = [line for line in (ROOT / "wsgi.py").read_text().splitlines() if line.strip()]
    assert code == ["from app import create_app", "app = create_app()"]


def test_makefile_targets():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: migrate$", makefile, re.M)
    assert re.search(r"^migrate: .*\n\t\$\(BIN\)/flask --app wsgi db migrate$", makefile, re.M)
    assert "$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app" in makefile
    assert re.search(r"^test: .*\n\t\$\(BIN\)/python -m pytest$", makefile, re.M)


def test_gunicorn_never_preloads():
    conf = (ROOT / "gunicorn.conf.py").read_text()
    assert re.search(r"^preload_app = False$", conf, re.M)
    assert 'os.environ.get("VIGIL_WORKERS"' in conf and 'os.environ.get("VIGIL_THREADS"' in conf


def test_dockerfile():
    docker = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", docker, re.M)
    assert stages == [("python:3.11-slim", "build"), ("python:3.11-slim", "runtime")]
    build, runtime = docker.split("AS runtime")
    assert "gcc" in build and "pip wheel" in build
    assert "gcc" not in runtime and "COPY --from=build /wheels" in runtime
    user = re.findall(r"^USER (\S+)$", runtime, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n.*app\.healthcheck", runtime, re.M)
    assert re.search(r'^ENTRYPOINT \["/app/bin/docker-entrypoint"\]$', runtime, re.M)
    entry = (ROOT / "bin" / "docker-entrypoint").read_text()
    assert entry.index('exec "$@"') < entry.index("db migrate") < entry.index("exec gunicorn -c gunicorn.conf.py wsgi:app")
    assert "--preload" not in docker


def test_on_off_settings_are_read_one_way_and_refuse_anything_else():
    import pytest

    from app.config import ConfigError, flag, load_config

    for raw in ("1", "true", "YES", " on "):
        assert flag("X", raw) is True
    for raw in ("0", "false", "No", "off", ""):
        assert flag("X", raw) is False
    with pytest.raises(ConfigError, match="VIGIL_MASK_PERSONAL must be on or off"):
        load_config(environ={"VIGIL_MASK_PERSONAL": "maybe"})
    conf = (ROOT / "gunicorn.conf.py").read_text()
    assert 'flag("VIGIL_REUSE_PORT", os.environ.get("VIGIL_REUSE_PORT", "0"))' in conf
