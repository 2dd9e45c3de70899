"""The local broker's cluster id must be something Kafka's storage tool accepts as an argument."""

from __future__ import annotations

import base64
import uuid
from unittest import mock

from enrichlog.services import kafka


def test_cluster_ids_are_22_url_safe_characters_of_a_uuid() -> None:
    for _ in range(200):
        cluster_id = kafka.new_cluster_id()
        assert len(cluster_id) == 22
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
        assert not cluster_id.startswith("-")


def test_an_id_starting_with_a_dash_is_drawn_again() -> None:
    # 0xf8 in the first byte encodes as '-': the storage tool took such an id for an option and
    # `services up` failed (it did in CI, 1 start in 64).
    dash = uuid.UUID(bytes=b"\xf8" + bytes(15))
    plain = uuid.UUID(bytes=b"\x10" + bytes(15))
    assert base64.urlsafe_b64encode(dash.bytes).startswith(b"-")
    with mock.patch.object(kafka.uuid, "uuid4", side_effect=[dash, dash, plain]) as draws:
        cluster_id = kafka.new_cluster_id()
    assert draws.call_count == 3
    assert cluster_id == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=")
