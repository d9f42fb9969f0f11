"""The typed arm boundary: a step's JSON input in, the arm's model out, JSON stored.

Whoever runs an arm (the step runner, an arm-to-arm call, an event handler, a test) goes
through here, so every arm sees the same checks:

* ``parse_input``: the step's input (a JSON object) validated into the arm's ``input_model``;
  an invalid input is ``InvalidInput`` (non-retryable) with the validation errors in
  ``details["errors"]`` (``loc``, ``msg``, ``type`` each) and the arm in ``details["arm"]``.
* ``encode_output``: the arm's output model as the JSON object that is stored
  (``model_dump(mode="json", exclude_unset=True)``: the keys the arm set, so the stored shape is
  what the arm built), validated against its ``output_model``; an output that does not match
  is ``InvalidOutput`` (non-retryable: the same input would give the same output).
* ``call``: both around ``arm.run``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from octollm.arms.base import Arm, ArmContext, ArmResult
from octollm.errors import InvalidInput, InvalidOutput

__all__ = ["call", "encode_output", "parse_input", "validation_errors"]

#: At most this many validation errors are kept in an error's details.
MAX_ERRORS = 20


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as JSON-safe details: a dotted ``loc``, ``msg`` and ``type``."""
    return [
        {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False)[:MAX_ERRORS]
    ]


def parse_input(arm: Arm[Any, Any], data: Mapping[str, Any] | BaseModel) -> Any:
    """``data`` as the arm's input model; ``InvalidInput`` with the errors when it is not one."""
    model: type[BaseModel] = arm.input_model
    if isinstance(data, model):
        return data
    raw = data.model_dump(exclude_unset=True) if isinstance(data, BaseModel) else dict(data)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = validation_errors(exc)
        first = errors[0] if errors else {"loc": "", "msg": "invalid"}
        where = f"{first['loc']}: " if first["loc"] else ""
        raise InvalidInput(
            f"{arm.name} input is invalid: {where}{first['msg']}",
            details={"arm": arm.name, "model": model.__name__, "errors": errors},
        ) from None


def encode_output(arm: Arm[Any, Any], result: ArmResult[Any]) -> ArmResult[dict[str, Any]]:
    """The result with its output as the JSON object to store, checked against the arm's
    ``output_model``; ``InvalidOutput`` with the errors when it does not match."""
    model: type[BaseModel] = arm.output_model
    output = result.output
    if isinstance(output, BaseModel):
        data: Any = output.model_dump(mode="json", exclude_unset=True)
    else:
        data = output
    try:
        checked = model.model_validate(data)
    except ValidationError as exc:
        raise InvalidOutput(
            f"{arm.name} returned an output that does not match {model.__name__}",
            details={"arm": arm.name, "model": model.__name__, "errors": validation_errors(exc)},
        ) from None
    stored = checked.model_dump(mode="json", exclude_unset=True)
    if not isinstance(stored, dict):
        raise InvalidOutput(
            f"{arm.name} returned an output that is not a JSON object",
            details={"arm": arm.name, "model": model.__name__, "type": type(stored).__name__},
        )
    return replace(result, output=stored)


def call(
    arm: Arm[Any, Any], data: Mapping[str, Any] | BaseModel, ctx: ArmContext
) -> ArmResult[dict[str, Any]]:
    """Run ``arm`` on ``data`` through the boundary: input validated, output checked and
    encoded as the JSON object a step stores."""
    return encode_output(arm, arm.run(parse_input(arm, data), ctx))
