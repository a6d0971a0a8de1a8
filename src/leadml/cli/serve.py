"""`leadml serve`: the scoring API (BentoML) on this machine, with a development key if asked.

Each command imports its work when it runs (see `leadml.cli.app`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from leadml.cli.app import ConfigOption, NameOption, app, friendly, model_name, say
from leadml.errors import LeadmlError

DEV_KEY_FILE = Path(".leadml") / "dev_api_keys"


def _service_dir() -> Path:
    """The project's `service/` folder: beside the current folder, else beside the package."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (base / "service" / "service.py").is_file():
            return base / "service"
    raise LeadmlError("service/service.py not found: run `leadml serve` in the leadml project")


def _dev_key() -> tuple[Path, str]:
    """A development API key kept in .leadml/dev_api_keys (created once, private to the user)."""
    import secrets

    if DEV_KEY_FILE.is_file():
        keys = [k.strip() for k in DEV_KEY_FILE.read_text().splitlines() if k.strip()]
        if keys:
            return DEV_KEY_FILE, keys[0]
    DEV_KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    DEV_KEY_FILE.write_text(key + "\n")
    DEV_KEY_FILE.chmod(0o600)
    return DEV_KEY_FILE, key


def _check_port(host: str, port: int) -> None:
    """Stop with one clear line when the server could not listen on `host`:`port` (the port is
    in use, or the host is not an address of this machine)."""
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise LeadmlError(f"--host {host}: not an address to listen on ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LeadmlError(
                    f"port {port} on {host} is already in use (another `leadml serve`?): stop "
                    "what listens there, or serve on another port with --port"
                ) from None
            raise LeadmlError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


@app.command()
@friendly
def serve(
    model: Annotated[str, typer.Option(help="champion, challenger or a version.")] = "champion",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    name: NameOption = None,
    config: ConfigOption = None,
    dev_key: Annotated[
        bool, typer.Option(help="Create (once) and use a development API key; prints it.")
    ] = False,
    insecure_dev: Annotated[
        bool, typer.Option(help="Development only: serve without any API key.")
    ] = False,
) -> None:
    """Serve lead scores over HTTP (BentoML): POST /score, POST /rules, GET /model.

    API keys come from LEADML_API_KEYS or LEADML_API_KEYS_FILE; see service/README.md.
    """
    import sys

    from leadml.registry.aliases import check_artifacts, resolve
    from leadml.serving.settings import ServiceSettings

    name = model_name(name, config)
    os.environ["LEADML_MODEL"] = model
    os.environ["LEADML_MODEL_NAME"] = name
    if insecure_dev:
        os.environ["LEADML_INSECURE_DEV"] = "1"
    key = None
    if dev_key:
        path, key = _dev_key()
        os.environ["LEADML_API_KEYS_FILE"] = str(path.resolve())
    ServiceSettings.from_env().check_keys()
    _check_port(host, port)  # one clear line now, not the server's traceback later
    resolved = resolve(name, model)  # a clear error now, rather than from the server
    check_artifacts(resolved)  # its files are there (listed, not loaded) before the banner
    service_dir = _service_dir()
    url = f"http://{host}:{port}"
    say(f"Serving {name} v{resolved.version} ({model}) on {url}; docs at {url}/docs")
    if key:
        say(
            f"Development API key (kept in {DEV_KEY_FILE}):\n"
            f"  curl -H 'Authorization: Bearer {key}' {url}/model"
        )
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    args = [bentoml, "serve", "service:LeadService", "--working-dir", str(service_dir)]
    os.execv(bentoml, [*args, "--host", host, "--port", str(port)])
