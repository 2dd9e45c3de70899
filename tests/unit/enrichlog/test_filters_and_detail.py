"""The roots filters' parse (short id, child failure filters, counts in words) and the timeline's
job detail (per-processor fields, attempts): pure, no database."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from enrichlog.commands.roots import RootsQuery, format_counts
from enrichlog.read import EntityPrefix, InvalidFilter, RootFilters, StatusCounts, roots_query
from enrichlog.web import detail
from tests.unit.enrichlog.test_web_helpers import attempt, job


def parse(**words: str | None) -> RootsQuery:
    given: dict[str, str | None] = {k: None for k in ("status", "operation", "since", "until", "entity", "stuck",
                                                       "limit", "cursor")}
    return RootsQuery.parse(**{**given, **words})  # type: ignore[arg-type]


def test_a_short_id_is_the_range_of_the_ids_it_starts() -> None:
    prefix = EntityPrefix.parse("CE40-0e5A")
    assert prefix.lo == uuid.UUID("ce400e5a-0000-0000-0000-000000000000")
    assert prefix.hi == uuid.UUID("ce400e5a-ffff-ffff-ffff-ffffffffffff")
    for bad in ("ce4", "ce40x", "a" * 33, ""):
        with pytest.raises(InvalidFilter, match=r"entity: .* is not a uuid or a short id"):
            EntityPrefix.parse(bad)


def test_entity_takes_a_uuid_or_the_shown_short_form() -> None:
    full = uuid.uuid4()
    assert parse(entity=str(full)).filters.entity_id == full
    for shown in ("ce400e5a", "ALBUM ce400e5a", "track ce400e5a"):
        assert parse(entity=shown).filters.entity_prefix == EntityPrefix("ce400e5a")
    with pytest.raises(ValueError, match=r"^--entity: 'PLAYLIST ce400e5a' is not a UUID or a short id"):
        parse(entity="PLAYLIST ce400e5a")


def test_the_shown_type_narrows_the_entity_and_goes_only_with_an_id() -> None:
    assert parse(entity="ce400e5a").filters.entity_type is None
    assert parse(entity="track ce400e5a").filters.entity_type == "TRACK"
    full = uuid.uuid4()
    assert (parse(entity=f"ALBUM {full}").filters.entity_id, parse(entity=f"ALBUM {full}").filters.entity_type) \
        == (full, "ALBUM")
    query, params = roots_query(parse(entity="ALBUM ce400e5a").filters, limit=50, cursor=None)
    text = query.as_string(None)
    assert text.count("r.entity_type = %(entity_type)s::enrichment_entity_type") == 4  # in every branch
    assert params["entity_type"] == "ALBUM"
    untyped, _ = roots_query(parse(entity="ce400e5a").filters, limit=50, cursor=None)
    assert "entity_type = " not in untyped.as_string(None)
    with pytest.raises(InvalidFilter, match=r"^entity: unknown entity type 'PLAYLIST'; one of ARTIST, ALBUM, TRACK"):
        RootFilters(entity_prefix=EntityPrefix("ce400e5a"), entity_type="PLAYLIST").validate()
    with pytest.raises(InvalidFilter, match=r"^entity: an entity type goes with an id or a short id"):
        RootFilters(entity_type="ALBUM").validate()


def test_the_range_is_bound_in_every_branch_and_a_uuid_keeps_equality() -> None:
    query, params = roots_query(parse(entity="ce400e5a").filters, limit=50, cursor=None)
    text = query.as_string(None)
    assert text.count("BETWEEN %(entity_lo)s AND %(entity_hi)s") == 10  # 4 matches, 6 skips
    assert "%(entity)s" not in text and params["entity_lo"] == EntityPrefix("ce400e5a").lo
    exact, _ = roots_query(parse(entity=str(uuid.uuid4())).filters, limit=50, cursor=None)
    assert "r.entity_id = %(entity)s" in exact.as_string(None) and "BETWEEN" not in exact.as_string(None)


def test_failing_and_error_kind_are_names_of_the_contract_in_any_case() -> None:
    q = RootsQuery.parse(status=None, operation=None, since=None, until=None, entity=None, stuck=None, limit=None,
                         cursor=None, failing="cache_album_cover_art", error_kind="not_found", prefix="")
    assert (q.filters.failing, q.filters.error_kind) == ("CACHE_ALBUM_COVER_ART", "NOT_FOUND")
    with pytest.raises(ValueError, match=r"^failing: 'X' is not an operation; one of CHECK_ALBUM_ENRICHMENT"):
        RootsQuery.parse(status=None, operation=None, since=None, until=None, entity=None, stuck=None, limit=None,
                         cursor=None, failing="X", prefix="")
    with pytest.raises(ValueError, match=r"^--error-kind: 'X' is not an error kind; one of RATE_LIMIT"):
        RootsQuery.parse(status=None, operation=None, since=None, until=None, entity=None, stuck=None, limit=None,
                         cursor=None, error_kind="X")
    with pytest.raises(InvalidFilter, match="failing: unknown operation"):
        RootFilters(failing="X").validate()


def test_counts_in_words_say_when_they_are_capped() -> None:
    assert format_counts(StatusCounts({"PARTIAL": 3, "SUCCESS": 12}, 10, False)) == "PARTIAL 3 · SUCCESS 12"
    assert format_counts(StatusCounts({"SUCCESS": 10}, 10, True)) == "SUCCESS 10 (among the newest 10 roots)"
    assert format_counts(StatusCounts({}, 10, False)) == "no roots match"


def test_the_detail_of_each_processor_is_labelled_known_fields_first() -> None:
    cover = dataclasses.replace(job(0, 1), operation="CACHE_ALBUM_COVER_ART", metadata={
        "processor": "CACHE_IMAGE", "extra": "kept", "urlAfter": "https://cdn/x.webp", "urlBefore": "https://a/x.jpg",
        "fileSizeBytes": 2048, "format": "webp", "dimensions": {"width": 60, "height": 40}})
    assert detail.fields(cover) == [
        ("image URL before", "https://a/x.jpg"), ("image URL after", "https://cdn/x.webp"),
        ("size", "2,048 bytes (2.0 kB)"), ("format", "webp"), ("dimensions", "60 x 40"), ("extra", "kept")]
    legacy = dataclasses.replace(job(0, 1), operation="ENRICH_ALBUM", metadata=None, sources=["SPOTIFY"],
                                 data_quality_before="LOW")
    assert detail.fields(legacy) == [("sources", "SPOTIFY"), ("data quality before", "LOW")]
    unknown = dataclasses.replace(job(0, 1), operation="SOMETHING_NEW", metadata={"a": [1, 2]})
    assert detail.family(unknown) is None and detail.fields(unknown) == [("a", "1, 2")]


def test_each_attempt_with_its_error() -> None:
    j = job(0, 5, [attempt(1, 0, 2, "RETRIED", kind="RATE_LIMIT", code="HTTP_429", message="slow down"),
                   attempt(2, 3, None, None)])
    first, second = detail.attempts(j)
    assert (first.number, first.status, first.error_kind, first.error_code, first.error_message,
            first.duration_ms) == ("1", "RETRIED", "RATE_LIMIT", "HTTP_429", "slow down", 2000)
    assert (second.status, second.ended_at, second.error_kind) == ("RUNNING", "", "")


def test_the_next_page_command_keeps_every_filter_as_typed() -> None:
    """The footer's command (enrichlog roots' filter_words) repeats each filter option of the call,
    the child filters under their CLI names, and leaves the default limit out."""
    from enrichlog.cli import build_parser
    from enrichlog.commands.roots import filter_words

    args = build_parser().parse_args(["roots", "--status", "PARTIAL", "--failing-operation", "CACHE_ALBUM_COVER_ART",
                                      "--error-kind", "NOT_FOUND", "--entity", "ALBUM ce400e5a"])
    assert filter_words(args) == ["--status", "PARTIAL", "--entity", "ALBUM ce400e5a", "--failing-operation",
                                  "CACHE_ALBUM_COVER_ART", "--error-kind", "NOT_FOUND"]
    assert filter_words(build_parser().parse_args(["roots", "--limit", "7"])) == ["--limit", "7"]
