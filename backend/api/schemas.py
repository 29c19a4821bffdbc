"""Shared request/response schema pieces."""
from apiflask import Schema
from apiflask.fields import AwareDateTime, Dict, Integer, String
from apiflask.validators import Length

from ..domain.plans import SHANGHAI


class ShanghaiDateTime(AwareDateTime):
    """A UTC-stored moment serialised in Asia/Shanghai (ISO 8601 with +08:00), as lessons are shown."""

    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(value.astimezone(SHANGHAI) if value is not None else None, attr, obj, **kwargs)


def binary_content(*media_types: str) -> dict:
    """An OpenAPI `content` entry for answers that are files (an image, a spreadsheet), not JSON."""
    return {media_type: {"schema": {"type": "string", "format": "binary"}} for media_type in media_types}


class ErrorInner(Schema):
    code = String(required=True)
    message = String(required=True)
    details = Dict()


class ErrorOut(Schema):
    """The one error shape."""
    error = Dict(required=True, metadata={"description": "{code, message, details}"})


class StatusOut(Schema):
    status = String(required=True)


class Pagination(Schema):
    page = Integer(load_default=1, validate=lambda v: v >= 1)
    per_page = Integer(load_default=50, validate=lambda v: 1 <= v <= 500)


class ReasonIn(Schema):
    reason = String(required=True, validate=Length(min=1, max=1000))


# The one error shape (API.md Conventions), as the OpenAPI document describes every 4xx/5xx response.
ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "details"],
        "properties": {"code": {"type": "string", "description": "snake_case; clients branch on it"},
                       "message": {"type": "string", "description": "zh-CN, or en with Accept-Language: en"},
                       "details": {"type": "object"}}}},
}
VALIDATION_ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "details"],
        "properties": {"code": {"type": "string", "enum": ["validation_error"]},
                       "message": {"type": "string"},
                       "details": {"type": "object", "properties": {"fields": {
                           "type": "object", "additionalProperties": {},
                           "description": "field name → list of messages"}}}}}},
}


def error_schema(codes, validation: bool = False) -> dict:
    """The error shape with `code` limited to the codes one operation answers with for one status."""
    details: dict = {"type": "object"}
    if validation:
        details = VALIDATION_ERROR_SCHEMA["properties"]["error"]["properties"]["details"]
    return {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message", "details"],
        "properties": {"code": {"type": "string", "enum": sorted(codes),
                                "description": "snake_case; clients branch on it"},
                       "message": {"type": "string", "description": "zh-CN, or en with Accept-Language: en"},
                       "details": details}}}}
