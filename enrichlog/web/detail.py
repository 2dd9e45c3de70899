"""A job's detail as the timeline page shows it: its attempts (error, timestamps, duration) and the
fields of its processor's own detail (`metadata`, see schemas/details.py), labelled in words.

Pure: no I/O. A processor's known fields come first, in the order a reader asks for them; keys it
does not know (a newer producer, a legacy writer) follow as they are, so nothing is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enrichlog.read import TimelineJob
from schemas.common import JobType
from schemas.details import DETAIL_FOR_JOB_TYPE


@dataclass(frozen=True, slots=True)
class Attempt:
    number: str
    status: str
    started_at: str
    ended_at: str
    duration_ms: int | None
    error_kind: str
    error_code: str
    error_message: str


# Per detail family: (metadata key, label), in the order shown.
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "CACHE_IMAGE": (("urlBefore", "image URL before"), ("urlAfter", "image URL after"),
                    ("sourceUrl", "source URL"), ("fileSizeBytes", "size"), ("format", "format"),
                    ("dimensions", "dimensions"), ("cloudflareImageId", "Cloudflare image id"),
                    ("cacheLocation", "cache location")),
    "DISCOGS_SEARCH_ARTIST": (("discogsId", "Discogs id"), ("matchedName", "matched name"),
                              ("confidence", "confidence"), ("searchQuery", "search query"),
                              ("resultsCount", "results")),
    "DISCOGS_GET_ARTIST": (("discogsId", "Discogs id"), ("genres", "genres"), ("imagesFound", "images found"),
                           ("imageUrl", "image URL"), ("profile", "profile")),
    "ENRICHMENT": (("sources", "sources"), ("fieldsEnriched", "fields enriched"),
                   ("dataQualityBefore", "data quality before"), ("dataQualityAfter", "data quality after"),
                   ("apiCallCount", "API calls"), ("musicbrainzIds", "MusicBrainz ids")),
    "SPOTIFY_TRACK_FALLBACK": (("tracksLookedUp", "tracks looked up"), ("tracksMatched", "tracks matched"),
                               ("spotifyIds", "Spotify ids")),
    "ENRICHMENT_CHECK": (("needsEnrichment", "needs enrichment"), ("missingFields", "missing fields"),
                         ("jobsSpawned", "jobs spawned")),
}


def family(job: TimelineJob) -> str | None:
    """The detail family: the metadata's own `processor`, else the one of the job's type."""
    named = (job.metadata or {}).get("processor")
    if isinstance(named, str):
        return named
    try:
        model = DETAIL_FOR_JOB_TYPE[JobType(job.operation)]
    except (ValueError, KeyError):  # a job type this version does not know
        return None
    return str(model.model_fields["processor"].default)


def fields(job: TimelineJob) -> list[tuple[str, str]]:
    """(label, value) of the job's detail: its family's fields first, then any other key."""
    detail = {k: v for k, v in (job.metadata or {}).items() if k != "processor"}
    if family(job) == "ENRICHMENT":  # the row's columns, for a legacy row whose metadata lacks them
        columns = {"sources": job.sources, "fieldsEnriched": job.fields_enriched,
                   "dataQualityBefore": job.data_quality_before, "dataQualityAfter": job.data_quality_after}
        detail = {k: v for k, v in columns.items() if v} | detail
    known = FIELDS.get(family(job) or "", ())
    out = [(label, shown(key, detail[key])) for key, label in known if detail.get(key) not in (None, [], "")]
    named = {key for key, _ in known}
    return out + [(key, shown(key, v)) for key, v in detail.items() if key not in named and v not in (None, [], "")]


def shown(key: str, value: Any) -> str:
    """A detail value in words: sizes in kB, dimensions as W x H, lists joined."""
    if key == "fileSizeBytes" and isinstance(value, int):
        return f"{value:,} bytes ({value / 1024:.1f} kB)"
    if key == "dimensions" and isinstance(value, dict):
        return f"{value.get('width', '?')} x {value.get('height', '?')}"
    if key == "confidence" and isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def last_error(job: TimelineJob) -> str:
    """The job's last error in one line: kind, code, message (its error message when it has no last
    error); "" when it has none."""
    return " ".join(str(x) for x in (job.last_error_kind, job.last_error_code, job.last_error or job.error_message)
                    if x)


def attempts(job: TimelineJob) -> list[Attempt]:
    """Each attempt of the history, with its error's kind, code and message (empty when it had none)."""
    out = []
    for a in job.attempts:
        error = a.get("error") or {}
        out.append(Attempt(str(a.get("attempt", "?")), a.get("status") or "RUNNING", a.get("startedAt") or "",
                           a.get("endedAt") or "", a.get("durationMs"), error.get("kind") or "",
                           error.get("code") or "", error.get("message") or ""))
    return out
