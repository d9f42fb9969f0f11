"""The effective configuration: every leaf setting, its value with secrets masked, and its source.

``octollm config show`` prints these rows. A leaf is a field whose type is not itself a section
(a ``BaseModel``): ``broker.url``, ``api.tenants`` (a map, shown whole). Its source is, in the
precedence order of ``Settings`` itself:

    env OCTOLLM_X          a variable of the process (the variable named; several when a JSON
                           value and finer variables below it are merged)
    .env OCTOLLM_X         the dotenv file in the working directory, for keys no variable sets
    code                   passed to ``Settings(...)`` (tests, embedded stacks): differs from
                           the default and no variable names it
    default                the field's default

Masking: a ``SecretStr`` is shown as ``**********``, except a URL, which keeps its scheme, user,
host, port and path with the password and the query string masked (what the operator needs to
check which service it points at); a text value whose field name has a part ``key``,
``secret``, ``password``, ``token`` or ``credentials`` is masked whole (numbers are not: a
``max_tokens`` is a count); any other URL with a password anywhere in a value has it masked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from octollm.config.settings import ENV_FILE, ENV_PREFIX, Settings, env_name

MASK = "**********"
SECRET_WORDS = frozenset(
    {"key", "keys", "secret", "secrets", "password", "passwd", "token", "tokens", "credentials"}
)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE)


@dataclass(frozen=True)
class Leaf:
    """A setting that holds a value (not a section): its dotted path and declaration."""

    path: str
    field: FieldInfo
    owner: type[BaseModel]

    @property
    def env(self) -> str:
        return env_name(self.path)

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]


@dataclass(frozen=True)
class Entry:
    """One row of ``octollm config show``."""

    setting: str
    env: str
    value: Any
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "env": self.env,
            "value": self.value,
            "source": self.source,
        }


def section_type(field: FieldInfo) -> type[BaseModel] | None:
    """The section model a field holds, or None for a leaf (``Screening`` is a union: a leaf)."""
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def leaves(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[Leaf]:
    """Every leaf of ``model`` in declaration order, sections depth first."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        section = section_type(field)
        if section is None:
            yield Leaf(path, field, model)
        else:
            yield from leaves(section, prefix=f"{path}.")


def value_at(settings: BaseModel, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


def default_of(leaf: Leaf) -> Any:
    """The value ``leaf`` has when nothing sets it: its section's default instance decides
    (``api.rate_limits.submit.rate`` is 20 although ``RateSpec.rate`` has no default).
    ``PydanticUndefined`` for a required field."""
    head, _, rest = leaf.path.partition(".")
    value: Any = Settings.model_fields[head].get_default(call_default_factory=True)
    for part in rest.split(".") if rest else ():
        if value is PydanticUndefined or value is None:
            return PydanticUndefined
        value = getattr(value, part)
    return value


# --- masking ---------------------------------------------------------------------------------


def secret_name(name: str) -> bool:
    return not SECRET_WORDS.isdisjoint(name.lower().split("_"))


def mask_url(url: str) -> str:
    """``redis://:pw@host:6379/0?password=x`` -> ``redis://:***@host:6379/0?***``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 literal
        netloc = f"[{netloc}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username is not None or parts.password is not None:
        user = parts.username or ""
        netloc = f"{user}:***@{netloc}" if parts.password is not None else f"{user}@{netloc}"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _mask_urls_in(text: str) -> str:
    return _URL.sub(lambda m: mask_url(m.group(0)) if "@" in m.group(0) else m.group(0), text)


def _reveal_secret(secret: SecretStr | SecretBytes) -> str:
    raw = secret.get_secret_value()
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    if "://" in text and urlsplit(text).netloc:
        return mask_url(text)
    return MASK


def masked(name: str, value: Any) -> Any:
    """``value`` of the setting ``name``, safe to print (JSON-able)."""
    if isinstance(value, SecretStr | SecretBytes):
        return _reveal_secret(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [masked(name, item) for item in value]
    if isinstance(value, dict):
        return {str(k): masked(str(k), v) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return {k: masked(k, getattr(value, k)) for k in type(value).model_fields}
    plain = to_jsonable_python(value)
    if isinstance(plain, str):
        return MASK if secret_name(name) and plain else _mask_urls_in(plain)
    return plain


def invalid(exc: ValidationError) -> str:
    """A settings validation error as ``setting (VARIABLE): message`` lines, never echoing the
    value (pydantic's own text does, and the value may be a secret)."""
    lines = ["invalid configuration:"]
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"])
        lines.append(f"  {path} ({env_name(path)}): {error['msg']}")
    return "\n".join(lines)


# --- sources ---------------------------------------------------------------------------------


def _env_paths(variables: Mapping[str, str | None]) -> dict[str, str]:
    """Dotted setting paths named by ``OCTOLLM_*`` variables, to each variable's name."""
    top = set(Settings.model_fields)
    found: dict[str, str] = {}
    for key, value in variables.items():
        if value is None or not key.upper().startswith(ENV_PREFIX):
            continue
        path = ".".join(key[len(ENV_PREFIX) :].lower().split("__"))
        if path.partition(".")[0] in top:
            found[path] = key
    return found


def _named(paths: Mapping[str, str], leaf: str) -> list[str]:
    """The variables that set ``leaf``: itself, a section above it, or a key below it."""
    return [
        var
        for path, var in sorted(paths.items())
        if path == leaf or leaf.startswith(f"{path}.") or path.startswith(f"{leaf}.")
    ]


def read_dotenv(path: Path) -> dict[str, str | None]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # a dependency of pydantic-settings

    return dict(dotenv_values(path))


def entries(
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    dotenv: Path | None = None,
) -> list[Entry]:
    """The effective configuration of ``settings``, which was read from ``environ`` (default:
    this process's) and the dotenv file ``dotenv`` (default: ``./.env``)."""
    env_paths = _env_paths(os.environ if environ is None else environ)
    file_paths = _env_paths(read_dotenv(Path(ENV_FILE) if dotenv is None else dotenv))
    rows = []
    for leaf in leaves():
        value = value_at(settings, leaf.path)
        from_env = _named(env_paths, leaf.path)
        from_file = [v for v in _named(file_paths, leaf.path) if v.upper() not in _upper(from_env)]
        if from_env or from_file:
            source = ", ".join([f"env {v}" for v in from_env] + [f".env {v}" for v in from_file])
        elif _same(value, default_of(leaf)):
            source = "default"
        else:
            source = "code"
        rows.append(Entry(leaf.path, leaf.env, masked(leaf.name, value), source))
    return rows


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """``OCTOLLM_*`` variables that name no setting (a typo, a removed knob), which
    ``Settings`` ignores silently."""
    variables = os.environ if environ is None else environ
    paths = [leaf.path for leaf in leaves()]
    unknown = []
    for path, var in sorted(_env_paths(variables).items()):
        if not any(
            path == p or p.startswith(f"{path}.") or path.startswith(f"{p}.") for p in paths
        ):
            unknown.append(var)
    unknown += [
        var
        for var in sorted(variables)
        if var.upper().startswith(ENV_PREFIX) and var not in _env_paths(variables).values()
    ]
    return sorted(unknown)


def _upper(names: list[str]) -> set[str]:
    return {name.upper() for name in names}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, SecretStr | SecretBytes) and isinstance(b, SecretStr | SecretBytes):
        return a.get_secret_value() == b.get_secret_value()
    return bool(to_jsonable_python(a) == to_jsonable_python(b))


__all__ = [
    "MASK",
    "Entry",
    "Leaf",
    "entries",
    "invalid",
    "leaves",
    "mask_url",
    "masked",
    "secret_name",
    "unknown_variables",
]
