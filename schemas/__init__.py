"""The event contract: the only place where a field of the wire format is declared."""

from schemas.common import (
    ALWAYS_CHILD,
    DataQuality,
    EntityType,
    ErrorKind,
    JobType,
    Outcome,
    Source,
)
from schemas.details import (
    DETAIL_FOR_JOB_TYPE,
    CacheImageDetail,
    Detail,
    Dimensions,
    DiscogsArtistDetail,
    DiscogsSearchDetail,
    EnrichmentCheckDetail,
    EnrichmentDetail,
    SpotifyFallbackDetail,
)
from schemas.events import (
    EVENT_KINDS,
    JOB_EVENT,
    SCHEMA_VERSION,
    Entity,
    EventDecodeError,
    JobError,
    JobEvent,
    JobFailed,
    JobFinished,
    JobRetrying,
    JobStarted,
    describe,
    dump_event,
    parse_event,
)

__all__ = [
    "ALWAYS_CHILD", "DETAIL_FOR_JOB_TYPE", "EVENT_KINDS", "JOB_EVENT", "SCHEMA_VERSION",
    "CacheImageDetail", "DataQuality", "Detail", "Dimensions", "DiscogsArtistDetail",
    "DiscogsSearchDetail", "Entity", "EntityType", "EnrichmentCheckDetail", "EnrichmentDetail",
    "ErrorKind", "EventDecodeError", "JobError", "JobEvent", "JobFailed", "JobFinished",
    "JobRetrying", "JobStarted", "JobType", "Outcome", "Source", "SpotifyFallbackDetail",
    "describe", "dump_event", "parse_event",
]
