"""Shared pieces of the wire contract: the base model and the domain's enums."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

# PostgreSQL text and jsonb cannot hold U+0000: one such string would make every store transaction
# holding it fail, so the contract refuses it, and the error names the field. A pattern (checked in
# Rust by pydantic-core, and part of the JSON Schema) rather than a Python validator: it is on the
# hot path of every parse.
NO_NUL = r"^[^\x00]*$"

# Job ids are the queue's own ids (strings of at most 100 characters), not UUIDs.
JobId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]
Url = Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=NO_NUL)]
LongText = Annotated[str, StringConstraints(max_length=20_000, pattern=NO_NUL)]
ErrorMessage = Annotated[str, StringConstraints(min_length=1, max_length=4000, pattern=NO_NUL)]
ErrorCode = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=NO_NUL)]
Label = Annotated[str, StringConstraints(max_length=50, pattern=NO_NUL)]
Reason = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)]
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]


class WireModel(BaseModel):
    """Base of every model on the wire: frozen, camelCase JSON, strict types.

    Unknown fields are ignored (not rejected) so that a consumer keeps working when a newer minor
    version of the contract adds fields.
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
