"""``docs/configuration.md``, generated from the ``Settings`` model (``octollm config docs``).

One table per section: variable, type, default, description. A unit test compares the file with
``render()``, so a field added without regenerating the page fails the suite. Defaults that
depend on the machine (the data directory) are written as the field's ``doc_default`` (in its
``json_schema_extra``) instead of this machine's value.
"""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic_core import PydanticUndefined, to_jsonable_python

from octollm.config.effective import Leaf, default_of, leaves, section_type
from octollm.config.settings import Settings

COMMAND = "octollm config docs --output docs/configuration.md"

INTRO = f"""# Configuration

<!-- Generated from octollm/config (the Settings model) by `{COMMAND}`.
     Do not edit by hand: tests/unit/test_config_docs.py fails when this page is out of date. -->

Every knob of octollm is a field of one model, `octollm.config.Settings`, read from `OCTOLLM_*`
environment variables. Sections nest with a double underscore (`OCTOLLM_BROKER__URL` sets
`broker.url`); top-level fields keep a single one (`OCTOLLM_ARM_PLUGINS`). Lists, maps and tables
are JSON (`OCTOLLM_WEBHOOKS__ALLOWLIST='["127.0.0.1:8080"]'`). Names are case-insensitive.

Where a value comes from, highest precedence first:

1. an environment variable of the process;
2. a `.env` file in the working directory (dotenv syntax, the same names), for variables the
   environment does not set;
3. the default below.

`octollm config show` prints the effective value of every setting, secrets masked, with its
source (`default`, `env OCTOLLM_...`, `.env OCTOLLM_...`, or `code` for a value passed to
`Settings(...)`) and the worker fleet read from the fleet file; `--json` for scripts.
A service whose URL is unset is provided by the embedded default when `octollm run` starts
(PostgreSQL, Redis, a llama.cpp server); workers and the API need the URLs set.

## Deployment files (not settings)

Two files sit beside the settings on purpose, because deployments edit them as files:

- **the fleet file** (shipped: `octollm/orchestrator/broker/fleet.toml`): the worker fleet,
  one pool per arm (arms, pool kind, concurrency,
  prefetch, time limit). Read by `octollm worker POOL`, `octollm fleet`, `octollm run` and the
  API's readiness check; no logic. Another file is chosen with `OCTOLLM_FLEET_FILE`
  (`fleet_file` below). `octollm config show` lists its pools with the file as their source.
  A pool's `time_limit` bounds each of its steps on every pool kind (the lower of it and
  `OCTOLLM_ORCHESTRATOR__STEP_TIME_LIMIT_SECONDS`: `octollm worker POOL` passes it to Celery as
  `--octollm-time-limit` and the step stops itself); prefork pools also hard-kill a child
  15 s later. `octollm fleet` prints the limit a step runs under.
- **`celeryconfig.py`**: Celery's own settings, derived from these by
  `octollm.orchestrator.broker.config.build(get_settings())`; Celery-level overrides (e.g.
  `worker_max_tasks_per_child`) go below its `globals().update` line. JSON stays the only
  serializer.

Test-only hooks (`OCTOLLM_TEST_*`) are not settings and are not listed.
"""

_QUALIFIED = re.compile(r"\b(?:[a-z_][a-z0-9_]*\.)+([A-Za-z_][A-Za-z0-9_]*)")


def type_name(annotation: Any) -> str:
    """A short, stable spelling of a field's type: ``SecretStr | None``, ``list[str]``."""
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return " | ".join(json.dumps(arg) for arg in typing.get_args(annotation))
    if origin is not None:
        args = typing.get_args(annotation)
        name = getattr(origin, "__name__", str(origin))
        inner = ", ".join("..." if arg is Ellipsis else type_name(arg) for arg in args)
        return f"{name}[{inner}]" if args else name
    if isinstance(annotation, type):
        return annotation.__name__
    return _QUALIFIED.sub(r"\1", str(annotation))


def default_text(leaf: Leaf) -> str:
    extra = leaf.field.json_schema_extra
    if isinstance(extra, dict) and "doc_default" in extra:
        return str(extra["doc_default"])
    value = default_of(leaf)
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, SecretStr | SecretBytes):
        return "(secret)"
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=False)
    plain = to_jsonable_python(value)
    if isinstance(plain, str):
        return json.dumps(plain) if plain == "" else plain
    return json.dumps(plain)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _prose(text: str) -> str:
    """A description as a table cell: ``<prefix>`` must not read as an HTML tag."""
    return _cell(text.replace("<", "\\<"))


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"``{text}``"


def _sections() -> list[tuple[str, str, str]]:
    """(path, title, description): the root's own fields first, then each section depth first."""
    found: list[tuple[str, str, str]] = [("", "Top level", "")]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            section = section_type(field)
            if section is not None:
                path = f"{prefix}{name}"
                found.append((path, f"`{path}`", field.description or ""))
                walk(section, f"{path}.")

    walk(Settings, "")
    return found


def render() -> str:
    """The whole page, deterministic (no machine-dependent values)."""
    by_section: dict[str, list[Leaf]] = {}
    for leaf in leaves():
        by_section.setdefault(leaf.path.rpartition(".")[0], []).append(leaf)
    out = [INTRO]
    for path, title, description in _sections():
        rows = by_section.get(path, [])
        if not rows:
            continue
        out.append(f"\n## {title}\n")
        if description:
            out.append(f"{description}\n")
        out.append("| Variable | Type | Default | Description |")
        out.append("|---|---|---|---|")
        for leaf in rows:
            out.append(
                "| "
                + " | ".join(
                    [
                        _code(leaf.env),
                        _cell(_code(type_name(leaf.field.annotation))),
                        _cell(_code(default_text(leaf))),
                        _prose(leaf.field.description or ""),
                    ]
                )
                + " |"
            )
    return "\n".join(out) + "\n"


__all__ = ["COMMAND", "render", "type_name"]
