"""Root propagation: flat links, payload round trip, SPOTIFY_TRACK_FALLBACK always a child."""

from __future__ import annotations

import json

import pytest

from producers import JobContext, Link, LinkError, link_child
from schemas import JobType


def test_a_job_without_parent_is_a_root() -> None:
    root = JobContext("r-1", JobType.CHECK_ALBUM_ENRICHMENT, None)
    assert root.is_root
    assert (root.root_job_id, root.parent_job_id) == ("r-1", None)
    assert root.child_link() == Link("r-1")


def test_linking_stays_flat_at_depth_three() -> None:
    root = JobContext("r", JobType.CHECK_ALBUM_ENRICHMENT, None)
    check_artist = JobContext("c", JobType.CHECK_ARTIST_ENRICHMENT, root.child_link())
    enrich_artist = JobContext("e", JobType.ENRICH_ARTIST, check_artist.child_link())
    search = JobContext("s", JobType.DISCOGS_SEARCH_ARTIST, enrich_artist.child_link())
    get = JobContext("g", JobType.DISCOGS_GET_ARTIST, link_child(search))
    for job in (check_artist, enrich_artist, search, get):
        assert (job.root_job_id, job.parent_job_id) == ("r", "r")


def test_spotify_fallback_is_a_child_of_the_album_enrichment_chain() -> None:
    enrich = JobContext("ea", JobType.ENRICH_ALBUM, None)  # started by hand: a root
    spotify = JobContext("sp", JobType.SPOTIFY_TRACK_FALLBACK, enrich.child_link())
    assert (spotify.root_job_id, spotify.parent_job_id) == ("ea", "ea")
    with pytest.raises(LinkError, match="always runs inside another job"):
        JobContext("sp", JobType.SPOTIFY_TRACK_FALLBACK, None)


def test_link_round_trips_through_a_json_job_payload() -> None:
    link = JobContext("r", JobType.ENRICH_ARTIST, None).child_link()
    payload = json.loads(json.dumps({"artistId": "x", **link.to_payload()}))
    assert payload["rootJobId"] == payload["parentJobId"] == "r"
    assert Link.from_payload(payload) == link


@pytest.mark.parametrize("payload", [None, {}, {"artistId": "x"}])
def test_payload_without_link_means_root(payload: dict[str, str] | None) -> None:
    assert Link.from_payload(payload) is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"rootJobId": "r"}, "no parentJobId"),
        ({"parentJobId": "r"}, "no rootJobId"),
        ({"rootJobId": "r", "parentJobId": "p"}, "linking is flat"),
        ({"rootJobId": 7, "parentJobId": 7}, "must be a string"),
        ({"rootJobId": "x" * 101, "parentJobId": "x" * 101}, "1..100"),
    ],
)
def test_bad_payload_links_are_rejected(payload: dict[str, object], message: str) -> None:
    with pytest.raises(LinkError, match=message):
        Link.from_payload(payload)


def test_a_job_cannot_be_its_own_parent() -> None:
    with pytest.raises(LinkError, match="own parent"):
        JobContext("r", JobType.ENRICH_ALBUM, Link("r"))
