"""``OpenAIChatClient``: the ``ChatLLM`` protocol over any OpenAI-compatible HTTP endpoint.

One client per process (``httpx.Client`` is thread-safe and pools connections). ``chat()`` is
built from three parts so that a retry policy or a circuit breaker wraps the network call
alone: ``_chat_body()`` (what to send), ``_post()`` (the HTTP exchange, errors mapped onto the
octollm tree, passed through the client's ``guard``) and ``_read_reply()`` (what came back).

The ``guard`` (``llm.guard.CallGuard``) decides about attempts: a bare client makes one; the
workers' client (``orchestrator.providers``) gets ``resilience.Guard``: retries with backoff
and jitter on 429/5xx/timeouts/connection errors (``Retry-After`` honoured, other 4xx never
retried) and the circuit breaker shared by all workers through Redis, keyed per endpoint and
model. Each attempt is one ``llm_call`` log line.

Errors, mapped at this edge::

    429                                 RateLimited(retry_after=<Retry-After>)
    5xx, 408, timeouts, connection      LLMUnavailable          (retryable)
    other 4xx, a reply that is no JSON  PermanentError          details["reason"] says which

Structured output (``LLMSettings.structured_output``):

- ``json_schema``: ``response_format={"type": "json_schema", "json_schema": {name, schema,
  strict}}`` (OpenAI, vLLM). ``strict`` is sent only when the schema qualifies for OpenAI's
  strict mode (every object closed, every property required); otherwise it is false.
- ``json_object``: ``{"type": "json_object", "schema": ...}``. llama-cpp-python's server
  (0.3.36) compiles ``schema`` into a grammar, so the reply is constrained to the schema.
- ``none``: the schema travels in the prompt only.

llama-cpp-python's server rejects ``{"type": "json_schema"}`` (its request model only allows
``text`` and ``json_object``) and answers with HTTP **500** and a traceback in its log. The
setting is therefore the *best* form the client may use; which form the endpoint accepts is
probed once per process and endpoint (``llm.capabilities``): from the server's
``/openapi.json`` when it describes ``response_format`` (llama.cpp does: no rejected request
at all), else by the first structured call, resent once with the next form down when a
400/422/500 names ``response_format``. The default setting thus works against OpenAI and
llama.cpp alike, and an endpoint sees at most one rejected request per process.

Every reply meant to be JSON is parsed leniently (code fences and leading prose are skipped;
the first balanced JSON object wins). An unparsable reply earns one repair call that shows the
model its reply and asks for JSON only; a second failure raises ``PermanentError``.

Logging: one ``llm_call`` line per HTTP exchange with model, tokens, duration and status.
Prompts and replies are never logged, only their sizes and a sha256 prefix.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import httpx

from octollm.config.settings import LLMSettings
from octollm.contracts.arm import TokenUsage
from octollm.contracts.llm import ChatResult
from octollm.errors import InvalidInput, LLMUnavailable, PermanentError
from octollm.llm import capabilities, idempotency
from octollm.llm.capabilities import StructuredOutput
from octollm.llm.guard import CallGuard, Unguarded
from octollm.llm.http_errors import ResponseFormatRejected, http_error
from octollm.llm.structured import (
    extract_json_object,
    schema_name,
    strict_compatible,
    with_system_note,
)
from octollm.logging import get_logger

log = get_logger("octollm.llm")

_MODES: dict[str, StructuredOutput] = {m: m for m in ("json_schema", "json_object", "none")}

_REPAIR_PROMPT = (
    "Your previous reply was not valid JSON ({error}). Reply again with only the JSON object, "
    "no prose and no code fences."
)
_SCHEMA_PROMPT = "Reply with only a JSON object that matches this JSON schema:\n{schema}"


def digest(text: str) -> str:
    """A short sha256 prefix: enough to correlate a logged call with stored text."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class OpenAIChatClient:
    """Chat completions and embeddings from an OpenAI-compatible endpoint."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str = "",
        timeout_seconds: float = 120.0,
        temperature: float = 0.2,
        max_tokens: int = 768,
        structured_output: StructuredOutput = "json_schema",
        embedding_model: str | None = None,
        transport: httpx.BaseTransport | None = None,
        guard: CallGuard | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.guard: CallGuard = guard or Unguarded()
        self.model = model
        self.embedding_model = embedding_model or model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.structured_output: StructuredOutput = structured_output
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0)),
            transport=transport,
        )

    # -- public surface -----------------------------------------------------------------

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        json_schema: dict[str, Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        """One completion; with ``json_schema``, ``parsed`` holds the decoded JSON object."""
        options = {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}
        result, finish_reason = self._complete(messages, json_schema, options)
        if json_schema is None:
            return result
        try:
            return _with_parsed(result, extract_json_object(result.text))
        except ValueError as exc:
            cut = (
                " (it was cut off at the token limit: be shorter)"
                if finish_reason == "length"
                else ""
            )
            note = _REPAIR_PROMPT.format(error=f"{exc}{cut}")
        repair = [
            *messages,
            {"role": "assistant", "content": result.text},
            {"role": "user", "content": note},
        ]
        second, finish_reason = self._complete(repair, json_schema, options)
        usage = result.usage + second.usage
        try:
            parsed = extract_json_object(second.text)
        except ValueError as exc:
            raise PermanentError(
                f"the model did not return valid JSON after one repair call: {exc}",
                details={
                    "reason": "LLM_BAD_JSON",
                    "model": second.model,
                    "finish_reason": finish_reason,
                    "reply_chars": len(second.text),
                    "reply_sha256": digest(second.text),
                    "tokens": usage.total_tokens,
                },
            ) from exc
        return ChatResult(text=second.text, usage=usage, model=second.model, parsed=parsed)

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        if not texts:
            return []
        data = self._post("/embeddings", {"model": self.embedding_model, "input": texts})
        try:
            rows = sorted(data["data"], key=lambda row: row.get("index", 0))
            return [[float(x) for x in row["embedding"]] for row in rows]
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentError(
                f"the embeddings reply has an unexpected shape: {exc!r}",
                details={"reason": "LLM_BAD_REPLY"},
            ) from exc

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpenAIChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- building blocks ----------------------------------------------------------------

    def _complete(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any] | None,
        options: dict[str, Any],
    ) -> tuple[ChatResult, str | None]:
        if schema is None or self.structured_output == "none":
            body = self._chat_body(messages, schema, options, self.structured_output)
            return self._read_reply(self._post("/chat/completions", body))
        accepted = capabilities.known(self.base_url, self.model)
        if accepted is None:
            with capabilities.lock(self.base_url, self.model):
                accepted = capabilities.known(self.base_url, self.model)
                if accepted is None:
                    accepted = self._described_form()
                if accepted is None:  # this call is the probe
                    return self._read_reply(self._probe(messages, schema, options))
        return self._read_reply(self._structured(messages, schema, options, accepted))

    def _structured(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        options: dict[str, Any],
        accepted: StructuredOutput,
    ) -> dict[str, Any]:
        mode = capabilities.capped(self.structured_output, accepted)
        self.structured_output = mode
        return self._post("/chat/completions", self._chat_body(messages, schema, options, mode))

    def _probe(
        self, messages: list[dict[str, str]], schema: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]:
        """Send with the best allowed form; on a rejection record the next one down and resend."""
        mode = self.structured_output
        while True:
            try:
                body = self._chat_body(messages, schema, options, mode)
                data = self._post("/chat/completions", body)
            except ResponseFormatRejected:
                lower = capabilities.weaker(mode)
                log.warning(
                    "llm_structured_output_downgraded",
                    model=self.model,
                    rejected=mode,
                    to=lower,
                )
                capabilities.remember(self.base_url, self.model, lower)
                self.structured_output = mode = lower
                continue
            capabilities.remember(self.base_url, self.model, mode)
            return data

    def _described_form(self) -> StructuredOutput | None:
        """What the server's ``/openapi.json`` says ``response_format`` accepts (one GET, short
        timeout, no retries); None when it does not say."""
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        try:
            response = self._http.get(f"{root}/openapi.json", timeout=3.0)
            document = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        form = capabilities.from_openapi(document)
        if form is not None:
            capabilities.remember(self.base_url, self.model, form)
            log.info("llm_structured_output_described", model=self.model, accepts=form)
        return form

    def _chat_body(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any] | None,
        options: dict[str, Any],
        mode: StructuredOutput,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": _first(options["temperature"], self.temperature),
            "max_tokens": _first(options["max_tokens"], self.max_tokens),
        }
        if options["seed"] is not None:
            body["seed"] = options["seed"]
        if schema is None:
            return body
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": schema_name(schema),
                    "schema": schema,
                    "strict": strict_compatible(schema),
                },
            }
        else:
            instruction = _SCHEMA_PROMPT.format(schema=json.dumps(schema, separators=(",", ":")))
            body["messages"] = with_system_note(messages, instruction)
            if mode == "json_object":
                body["response_format"] = {"type": "json_object", "schema": schema}
        return body

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The HTTP exchange, through the guard (retries, the circuit breaker). A chat call
        inside a step carries an ``Idempotency-Key`` (``llm/idempotency.py``), the same on
        each of the guard's retries."""
        headers = idempotency.call_headers() if path == "/chat/completions" else {}
        return self.guard.call(lambda: self._exchange(path, body, headers))

    def _exchange(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """One HTTP exchange, errors mapped onto the octollm tree."""
        started = time.monotonic()
        status: int | str = "error"
        payload: Any = None
        try:
            response = self._http.post(path, json=body, headers=headers or None)
            status = response.status_code
            if status >= 400:
                raise http_error(response, body)
            try:
                payload = response.json()
            except ValueError as exc:
                raise LLMUnavailable(
                    f"the LLM endpoint answered {path} with a body that is not JSON",
                    details={"reason": "LLM_BAD_REPLY", "status": status},
                ) from exc
            if not isinstance(payload, dict):
                raise LLMUnavailable(
                    f"the LLM endpoint answered {path} with JSON that is not an object",
                    details={"reason": "LLM_BAD_REPLY", "status": status},
                )
            return payload
        except httpx.TimeoutException as exc:
            status = "timeout"
            raise LLMUnavailable(
                f"the LLM endpoint timed out ({type(exc).__name__})",
                details={"reason": "LLM_TIMEOUT", "path": path},
            ) from exc
        except httpx.TransportError as exc:
            status = "unreachable"
            raise LLMUnavailable(
                f"the LLM endpoint is unreachable ({type(exc).__name__}: {exc})",
                details={"reason": "LLM_UNREACHABLE", "path": path},
            ) from exc
        finally:
            _log_call(path, body, payload, status, time.monotonic() - started)

    def _read_reply(self, data: dict[str, Any]) -> tuple[ChatResult, str | None]:
        """The reply's text, usage and model, and its ``finish_reason``."""
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise PermanentError(
                "the chat reply has no choices[0].message",
                details={"reason": "LLM_BAD_REPLY"},
            ) from exc
        usage = usage_from(data.get("usage"))
        model = str(data.get("model") or self.model)
        return ChatResult(text=str(text), usage=usage, model=model), choice.get("finish_reason")


def client_from_settings(
    settings: LLMSettings, *, guard: CallGuard | None = None
) -> OpenAIChatClient:
    """The process's client for ``settings`` (build one per process and share it)."""
    if not settings.base_url:
        raise InvalidInput(
            "OCTOLLM_LLM__BASE_URL is not set (`octollm run` starts the embedded model and sets it)"
        )
    mode = _MODES.get(settings.structured_output)
    if mode is None:
        raise InvalidInput(f"unknown structured_output {settings.structured_output!r}")
    return OpenAIChatClient(
        settings.base_url,
        model=settings.model,
        api_key=settings.api_key.get_secret_value(),
        timeout_seconds=settings.timeout_seconds,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        structured_output=mode,
        guard=guard,
    )


# -- pure helpers ---------------------------------------------------------------------------


def usage_from(raw: Any) -> TokenUsage:
    if not isinstance(raw, dict):
        return TokenUsage()

    def count(key: str) -> int:
        value = raw.get(key)
        return value if isinstance(value, int) and value >= 0 else 0

    return TokenUsage(
        prompt_tokens=count("prompt_tokens"), completion_tokens=count("completion_tokens")
    )


def _with_parsed(result: ChatResult, parsed: dict[str, Any]) -> ChatResult:
    return ChatResult(text=result.text, usage=result.usage, model=result.model, parsed=parsed)


def _first(value: Any, default: Any) -> Any:
    return default if value is None else value


def _log_call(
    path: str, body: dict[str, Any], payload: Any, status: int | str, seconds: float
) -> None:
    request_text = json.dumps(body.get("messages") or body.get("input") or "")
    fields: dict[str, Any] = {
        "path": path,
        "model": body.get("model"),
        "status": status,
        "duration_ms": round(seconds * 1000, 1),
        "request_chars": len(request_text),
        "request_sha256": digest(request_text),
    }
    if isinstance(payload, dict):
        usage = usage_from(payload.get("usage"))
        fields["prompt_tokens"] = usage.prompt_tokens
        fields["completion_tokens"] = usage.completion_tokens
        choices = payload.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            reply = str((choices[0].get("message") or {}).get("content") or "")
            fields["reply_chars"] = len(reply)
            fields["reply_sha256"] = digest(reply)
            fields["finish_reason"] = choices[0].get("finish_reason")
    log.info("llm_call", **fields)
