"""Shared pieces of the wire contract: the base model and the domain's enums."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints
from pydantic.alias_generators import to_camel
from pydantic_core import CoreSchema, core_schema

# PostgreSQL text and jsonb cannot hold U+0000: one such string would make every store transaction
# holding it fail, so the contract refuses it, and the error names the field. A pattern (checked in
# Rust by pydantic-core, and part of the JSON Schema) rather than a Python validator: it is on the
# hot path of every parse.
NO_NUL = r"^[^\x00]*$"
# The same rule in the JSON Schema files, where it also refuses a lone UTF-16 surrogate ("\ud800"):
# JSON.parse and Python's json accept one, the reference reader refuses the whole value as invalid
# JSON (UTF-8 cannot encode it, nor can PostgreSQL store it). Paired surrogates are one character.
NO_NUL_JSON_SCHEMA = r"^[^\x00\uD800-\uDFFF]*$"

# RFC 3339's date-time with an offset, the calendar checked (days per month, February 29 in leap
# years), years 1000 to 2999, no leap second (Python's datetime has none). A pattern, so that every
# JSON Schema validator checks exactly this set whether or not it asserts `format`; the reader
# checks the same pattern (in Rust) before pydantic parses the date-time.
_YEAR = r"[12][0-9]{3}"
_LEAP_YEAR = r"[12][0-9](?:0[48]|[2468][048]|[13579][26])|(?:12|16|20|24|28)00"
_MONTH_DAY = (
    r"(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8])"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
_OFFSET = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
DATE_TIME = rf"^(?:{_YEAR}-(?:{_MONTH_DAY})|(?:{_LEAP_YEAR})-02-29)[Tt]{_TIME}{_OFFSET}$"
# A UUID in its 36-character form (8-4-4-4-12 hexadecimal digits, any case), as JSON Schema's
# `uuid` format; pydantic alone would also take the 32-digit, braced and urn forms.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class Integer:
    """An integer field in `[ge, le]` that reads a JSON number with a zero fraction (`1.0`, `1e3`)
    as the integer it is, as JSON Schema's `integer` and every JSON parser in JavaScript do; a
    string, a boolean or a fraction is refused. Checked in Rust: an integer goes straight through,
    only a float tries the second branch (schemas.errors makes one message of the two branches').
    """

    def __init__(self, ge: int, le: int) -> None:
        self.ge, self.le = ge, le

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        integer = core_schema.int_schema(strict=True, ge=self.ge, le=self.le)
        whole = core_schema.chain_schema(
            [core_schema.float_schema(strict=True), core_schema.int_schema(strict=False, ge=self.ge, le=self.le)]
        )
        # JSON only (Python code passes ints); an int never tries the second branch
        wire = core_schema.union_schema([(integer, "integer"), (whole, "number")], mode="left_to_right")
        return core_schema.json_or_python_schema(json_schema=wire, python_schema=integer)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.ge, "maximum": self.le}


class _Formatted:
    """A string of a fixed syntax (a pattern or a length, checked in Rust) then parsed by pydantic
    into the value `python` validates; on the wire any failure is one error of type `error_type`.
    Python code passes the value itself (a UUID, a datetime), checked by `python`."""

    def __init__(self, error_type: str, pattern: str | None, python: CoreSchema, json_schema: dict[str, Any],
                 length: int | None = None) -> None:
        self.error_type, self.pattern, self.python, self.json_schema = error_type, pattern, python, json_schema
        self.length = length

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        text = core_schema.str_schema(strict=True, pattern=self.pattern, min_length=self.length,
                                      max_length=self.length)
        parsed = {**self.python, "strict": False}  # the same validator, reading the checked string
        wire = core_schema.custom_error_schema(
            core_schema.chain_schema([text, parsed]),
            custom_error_type=self.error_type,
            custom_error_message=f"Input should be a {self.error_type}",
        )
        return core_schema.json_or_python_schema(json_schema=wire, python_schema=self.python)

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return dict(self.json_schema)


# The reader checks the length only: of the forms pydantic parses (32 digits, 36 with hyphens, 38
# braced, 45 with "urn:uuid:"), 36 characters is the hyphenated one, and a regex would cost more on
# every UUID of every event. In the JSON Schema the length also keeps Python's `$` (which matches
# before a final newline too) from letting "...\n" through; `not` does that for the date-time.
UUID_FORMAT = _Formatted(
    "uuid_format", None, core_schema.uuid_schema(strict=True),
    {"type": "string", "format": "uuid", "pattern": UUID_PATTERN, "minLength": 36, "maxLength": 36},
    length=36,
)
DATE_TIME_FORMAT = _Formatted(
    "date_time_format", DATE_TIME, core_schema.datetime_schema(strict=True, tz_constraint="aware"),
    {"type": "string", "format": "date-time", "pattern": DATE_TIME, "not": {"type": "string", "pattern": "\n"}},
)
Uuid = Annotated[UUID, UUID_FORMAT]

# Job ids are the queue's own ids (strings of at most 100 characters), not UUIDs.
JobId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=NO_NUL)]
LongText = Annotated[str, StringConstraints(max_length=20_000, pattern=NO_NUL)]
ErrorMessage = Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=NO_NUL)]
ErrorCode = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=NO_NUL)]
Label = Annotated[str, StringConstraints(max_length=50, pattern=NO_NUL)]
Reason = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)]
Count = Annotated[int, Integer(0, 2**31 - 1)]


class WireModel(BaseModel):
    """Base of every model on the wire: frozen, camelCase JSON, strict types.

    Unknown fields are ignored (not rejected) so that a consumer keeps working when a newer minor
    version of the contract adds fields. Python code may build a model by field name
    (`job_id=...`); the wire is read by alias only (`parse_event`), so `job_id` on the wire is an
    unknown field, as it is for JSON Schema.
    """

    model_config = ConfigDict(
        frozen=True,
        strict=True,
        extra="ignore",
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=False,
        ser_json_timedelta="float",
    )


class JobType(StrEnum):
    """The processors (job types) of the enrichment pipeline."""

    CHECK_ALBUM_ENRICHMENT = "CHECK_ALBUM_ENRICHMENT"
    ENRICH_ALBUM = "ENRICH_ALBUM"
    CACHE_ALBUM_COVER_ART = "CACHE_ALBUM_COVER_ART"
    SPOTIFY_TRACK_FALLBACK = "SPOTIFY_TRACK_FALLBACK"
    CHECK_ARTIST_ENRICHMENT = "CHECK_ARTIST_ENRICHMENT"
    ENRICH_ARTIST = "ENRICH_ARTIST"
    DISCOGS_SEARCH_ARTIST = "DISCOGS_SEARCH_ARTIST"
    DISCOGS_GET_ARTIST = "DISCOGS_GET_ARTIST"
    CACHE_ARTIST_IMAGE = "CACHE_ARTIST_IMAGE"
    CHECK_TRACK_ENRICHMENT = "CHECK_TRACK_ENRICHMENT"
    ENRICH_TRACK = "ENRICH_TRACK"


# Job types that only ever run inside another job's chain: never a root.
ALWAYS_CHILD: frozenset[JobType] = frozenset({JobType.SPOTIFY_TRACK_FALLBACK})


class EntityType(StrEnum):
    ARTIST = "ARTIST"
    ALBUM = "ALBUM"
    TRACK = "TRACK"


class Outcome(StrEnum):
    """Terminal outcomes of a finished job (a permanent failure is its own event kind)."""

    SUCCESS = "SUCCESS"
    PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
    COMPLETED = "COMPLETED"
    NO_DATA_AVAILABLE = "NO_DATA_AVAILABLE"
    SKIPPED = "SKIPPED"
    PREVIEW = "PREVIEW"


class ErrorKind(StrEnum):
    """Why an attempt failed, as classified by the processor, so a timeline can say why."""

    RATE_LIMIT = "RATE_LIMIT"
    NOT_FOUND = "NOT_FOUND"
    AUTH = "AUTH"
    TIMEOUT = "TIMEOUT"
    INVALID_INPUT = "INVALID_INPUT"
    UPSTREAM = "UPSTREAM"
    INTERNAL = "INTERNAL"
    UNKNOWN = "UNKNOWN"


class DataQuality(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class Source(StrEnum):
    DISCOGS = "DISCOGS"
    MUSICBRAINZ = "MUSICBRAINZ"
    SPOTIFY = "SPOTIFY"
    CLOUDFLARE = "CLOUDFLARE"
    LASTFM = "LASTFM"
    WIKIDATA = "WIKIDATA"
