"""What each simulated processor reports: realistic detail, durations and errors per job type."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from producers.errors import JobFailure
from schemas import (
    CacheImageDetail,
    DataQuality,
    Detail,
    Dimensions,
    DiscogsArtistDetail,
    DiscogsSearchDetail,
    EnrichmentCheckDetail,
    EnrichmentDetail,
    ErrorKind,
    Source,
    SpotifyFallbackDetail,
)
from schemas import (
    JobType as T,
)

# Typical duration of one attempt (seconds): (low, high); a slow API call multiplies it.
DURATION_S: dict[T, tuple[float, float]] = {
    T.CHECK_ALBUM_ENRICHMENT: (0.01, 0.08), T.CHECK_ARTIST_ENRICHMENT: (0.01, 0.08),
    T.CHECK_TRACK_ENRICHMENT: (0.01, 0.05), T.ENRICH_ALBUM: (0.4, 2.5),
    T.ENRICH_ARTIST: (0.4, 2.0), T.ENRICH_TRACK: (0.2, 1.2),
    T.CACHE_ALBUM_COVER_ART: (0.15, 0.9), T.CACHE_ARTIST_IMAGE: (0.15, 0.9),
    T.DISCOGS_SEARCH_ARTIST: (0.2, 1.1), T.DISCOGS_GET_ARTIST: (0.2, 1.0),
    T.SPOTIFY_TRACK_FALLBACK: (0.3, 1.5),
}
SLOW_FACTOR = (8.0, 40.0)
GENRES = ["Rock", "Electronic", "Jazz", "Hip Hop", "Folk", "Classical", "Pop", "Funk / Soul"]
FIELDS = ["releaseDate", "label", "genres", "barcode", "country", "biography", "aliases",
          "trackCount", "isrc", "duration", "coverArtUrl", "musicbrainzId"]
NAMES = ["Nina Simone", "Can", "Boards of Canada", "Fela Kuti", "Björk", "Sun Ra", "Khruangbin"]


@dataclass(frozen=True, slots=True)
class Failure:
    """A failure a processor of this type really meets."""

    message: str
    kind: ErrorKind
    code: str
    retryable: bool


TRANSIENT: dict[T, list[Failure]] = {
    T.DISCOGS_SEARCH_ARTIST: [Failure("Discogs API 429 Too Many Requests", ErrorKind.RATE_LIMIT,
                                      "DISCOGS_RATE_LIMIT", True)],
    T.DISCOGS_GET_ARTIST: [Failure("Discogs API 429 Too Many Requests", ErrorKind.RATE_LIMIT,
                                   "DISCOGS_RATE_LIMIT", True)],
    T.SPOTIFY_TRACK_FALLBACK: [Failure("Spotify token expired", ErrorKind.AUTH,
                                       "SPOTIFY_AUTH", True)],
}
DEFAULT_TRANSIENT = [
    Failure("upstream timed out after 30000 ms", ErrorKind.TIMEOUT, "UPSTREAM_TIMEOUT", True),
    Failure("MusicBrainz returned 503 Service Unavailable", ErrorKind.UPSTREAM, "MB_503", True),
]
PERMANENT: dict[T, Failure] = {
    T.CACHE_ALBUM_COVER_ART: Failure("source image returned 404", ErrorKind.NOT_FOUND,
                                     "IMAGE_FETCH_FAILED", False),
    T.CACHE_ARTIST_IMAGE: Failure("source image is not a valid image", ErrorKind.INVALID_INPUT,
                                  "IMAGE_FETCH_FAILED", False),
    T.DISCOGS_GET_ARTIST: Failure("Discogs artist not found", ErrorKind.NOT_FOUND,
                                  "DISCOGS_NOT_FOUND", False),
}
DEFAULT_PERMANENT = Failure("entity not found", ErrorKind.NOT_FOUND, "ENTITY_NOT_FOUND", False)


def transient_failure(rng: random.Random, job_type: T) -> JobFailure:
    f = rng.choice(TRANSIENT.get(job_type, DEFAULT_TRANSIENT))
    return JobFailure(f.message, kind=f.kind, code=f.code, retryable=True)


def permanent_failure(job_type: T) -> JobFailure:
    f = PERMANENT.get(job_type, DEFAULT_PERMANENT)
    return JobFailure(f.message, kind=f.kind, code=f.code, retryable=False)


def duration_s(rng: random.Random, job_type: T, slow: bool) -> float:
    low, high = DURATION_S[job_type]
    seconds = rng.uniform(low, high)
    return seconds * rng.uniform(*SLOW_FACTOR) if slow else seconds


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def detail_for(rng: random.Random, job_type: T, spawned: int = 0) -> Detail:
    """A plausible detail of the processor `job_type` after a successful attempt."""
    if job_type in (T.CACHE_ALBUM_COVER_ART, T.CACHE_ARTIST_IMAGE):
        image_id = _hex(rng, 32)
        fmt: Literal["jpeg", "png", "webp"] = rng.choice(["jpeg", "png", "webp"])
        source = f"https://coverartarchive.org/release/{_hex(rng, 8)}/front.{fmt}"
        return CacheImageDetail(
            source_url=source, cloudflare_image_id=image_id,
            file_size_bytes=rng.randint(20_000, 4_000_000), format=fmt,
            dimensions=Dimensions(width=rng.choice([300, 600, 1200]), height=rng.choice([300, 600, 1200])),
            cache_location=f"https://imagedelivery.net/acct/{image_id}/public",
            url_before=source, url_after=f"https://imagedelivery.net/acct/{image_id}/public")
    if job_type is T.DISCOGS_SEARCH_ARTIST:
        name = rng.choice(NAMES)
        return DiscogsSearchDetail(search_query=name, results_count=rng.randint(1, 40),
                                   discogs_id=str(rng.randint(1, 9_999_999)), matched_name=name,
                                   confidence=round(rng.uniform(0.6, 1.0), 3))
    if job_type is T.DISCOGS_GET_ARTIST:
        images = rng.randint(0, 6)
        return DiscogsArtistDetail(
            discogs_id=str(rng.randint(1, 9_999_999)), profile="Artist profile " + _hex(rng, 24),
            images_found=images, genres=rng.sample(GENRES, rng.randint(1, 3)),
            image_url=f"https://i.discogs.com/{_hex(rng, 16)}.jpg" if images else None)
    if job_type is T.SPOTIFY_TRACK_FALLBACK:
        looked_up = rng.randint(1, 20)
        matched = rng.randint(0, looked_up)
        return SpotifyFallbackDetail(tracks_looked_up=looked_up, tracks_matched=matched,
                                     spotify_ids=[_hex(rng, 22) for _ in range(matched)])
    if job_type in (T.ENRICH_ALBUM, T.ENRICH_ARTIST, T.ENRICH_TRACK):
        return EnrichmentDetail(
            sources=rng.sample([Source.MUSICBRAINZ, Source.DISCOGS, Source.SPOTIFY, Source.LASTFM],
                               rng.randint(1, 3)),
            fields_enriched=rng.sample(FIELDS, rng.randint(1, 6)),
            data_quality_before=rng.choice([DataQuality.LOW, DataQuality.MEDIUM]),
            data_quality_after=rng.choice([DataQuality.MEDIUM, DataQuality.HIGH]),
            api_call_count=rng.randint(1, 12),
            musicbrainz_ids=[_hex(rng, 32) for _ in range(rng.randint(0, 2))])
    return EnrichmentCheckDetail(needs_enrichment=spawned > 0, jobs_spawned=spawned,
                                 missing_fields=rng.sample(FIELDS, rng.randint(0, 4)) if spawned else [])
