"""Per-processor detail: each processor logs the fields of its own domain, not a shared envelope.

The union is discriminated by `processor`, which names the detail family; the event envelope
checks that the family fits its `jobType` (DETAIL_FOR_JOB_TYPE). Every field is optional except
the discriminator: a SKIPPED cache job has no file size, a failed search has no match.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from schemas.common import Count, DataQuality, Integer, JobType, LongText, ShortText, Source, Url, WireModel


class Dimensions(WireModel):
    width: Annotated[int, Integer(1, 100_000)]
    height: Annotated[int, Integer(1, 100_000)]


class CacheImageDetail(WireModel):
    """CACHE_ALBUM_COVER_ART / CACHE_ARTIST_IMAGE: copying an image to the image CDN."""

    processor: Literal["CACHE_IMAGE"] = "CACHE_IMAGE"
    source_url: Url | None = None
    cloudflare_image_id: ShortText | None = None
    file_size_bytes: Count | None = None
    format: Literal["jpeg", "png", "webp", "gif", "avif", "svg", "other"] | None = None
    dimensions: Dimensions | None = None
    cache_location: Url | None = None
    url_before: Url | None = None
    url_after: Url | None = None


class DiscogsSearchDetail(WireModel):
    """DISCOGS_SEARCH_ARTIST: finding the artist on Discogs."""

    processor: Literal["DISCOGS_SEARCH_ARTIST"] = "DISCOGS_SEARCH_ARTIST"
    search_query: ShortText | None = None
    results_count: Count | None = None
    discogs_id: ShortText | None = None
    matched_name: ShortText | None = None
    confidence: Annotated[float, Field(ge=0.0, le=1.0)] | None = None


class DiscogsArtistDetail(WireModel):
    """DISCOGS_GET_ARTIST: fetching the matched Discogs artist."""

    processor: Literal["DISCOGS_GET_ARTIST"] = "DISCOGS_GET_ARTIST"
    discogs_id: ShortText | None = None
    profile: LongText | None = None
    images_found: Count | None = None
    image_url: Url | None = None
    genres: Annotated[list[ShortText], Field(max_length=100)] = []


class EnrichmentDetail(WireModel):
    """ENRICH_ALBUM / ENRICH_ARTIST / ENRICH_TRACK: filling in metadata from the sources."""

    processor: Literal["ENRICHMENT"] = "ENRICHMENT"
    sources: Annotated[list[Source], Field(max_length=20)] = []
    fields_enriched: Annotated[list[ShortText], Field(max_length=200)] = []
    data_quality_before: DataQuality | None = None
    data_quality_after: DataQuality | None = None
    api_call_count: Count | None = None
    musicbrainz_ids: Annotated[list[ShortText], Field(max_length=1000)] = []


class SpotifyFallbackDetail(WireModel):
    """SPOTIFY_TRACK_FALLBACK: looking tracks up on Spotify inside an album enrichment."""

    processor: Literal["SPOTIFY_TRACK_FALLBACK"] = "SPOTIFY_TRACK_FALLBACK"
    tracks_looked_up: Count | None = None
    tracks_matched: Count | None = None
    spotify_ids: Annotated[list[ShortText], Field(max_length=1000)] = []


class EnrichmentCheckDetail(WireModel):
    """CHECK_*_ENRICHMENT: deciding whether an entity needs enrichment."""

    processor: Literal["ENRICHMENT_CHECK"] = "ENRICHMENT_CHECK"
    needs_enrichment: bool | None = None
    missing_fields: Annotated[list[ShortText], Field(max_length=200)] = []
    jobs_spawned: Count | None = None


Detail = Annotated[
    CacheImageDetail
    | DiscogsSearchDetail
    | DiscogsArtistDetail
    | EnrichmentDetail
    | SpotifyFallbackDetail
    | EnrichmentCheckDetail,
    Field(discriminator="processor"),
]

DETAIL_FOR_JOB_TYPE: dict[JobType, type[WireModel]] = {
    JobType.CACHE_ALBUM_COVER_ART: CacheImageDetail,
    JobType.CACHE_ARTIST_IMAGE: CacheImageDetail,
    JobType.DISCOGS_SEARCH_ARTIST: DiscogsSearchDetail,
    JobType.DISCOGS_GET_ARTIST: DiscogsArtistDetail,
    JobType.ENRICH_ALBUM: EnrichmentDetail,
    JobType.ENRICH_ARTIST: EnrichmentDetail,
    JobType.ENRICH_TRACK: EnrichmentDetail,
    JobType.SPOTIFY_TRACK_FALLBACK: SpotifyFallbackDetail,
    JobType.CHECK_ALBUM_ENRICHMENT: EnrichmentCheckDetail,
    JobType.CHECK_ARTIST_ENRICHMENT: EnrichmentCheckDetail,
    JobType.CHECK_TRACK_ENRICHMENT: EnrichmentCheckDetail,
}

# Which data source a detail family talks to, for the row's `sources` column.
SOURCES_OF_DETAIL: dict[str, tuple[Source, ...]] = {
    "CACHE_IMAGE": (Source.CLOUDFLARE,),
    "DISCOGS_SEARCH_ARTIST": (Source.DISCOGS,),
    "DISCOGS_GET_ARTIST": (Source.DISCOGS,),
    "SPOTIFY_TRACK_FALLBACK": (Source.SPOTIFY,),
}
