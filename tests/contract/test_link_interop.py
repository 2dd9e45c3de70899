"""Whether a job payload's link written by one producer is read by the other (flat linking,
docs/events.md): the Python producer writes `Link.to_payload()` ({rootJobId, parentJobId}) into a
child's payload and reads it back with `Link.from_payload`, which refuses a payload with only one
of the two keys; @enrichlog/bullmq writes `childData` and reads `linkOf`. A BullMQ worker and a
Python worker may spawn each other's jobs: each side reads the other's payload as the same link.

It needs node (>= 20) and a build of clients/bullmq (scripts/test does it).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from producers import JobContext, Link, LinkError
from schemas import JobType
from tests.bullmq_package import PACKAGE, node


def _node(script: str, *args: Any) -> Any:
    """Runs `script` (an ES module importing the package as ./dist/index.js) with `args` as JSON in
    process.argv[1..]; its stdout as JSON."""
    done = subprocess.run([node(), "--input-type=module", "-e", script, *(json.dumps(a) for a in args)], cwd=PACKAGE,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


LINK_OF = """
import { linkOf } from "./dist/index.js";
const [id, data] = process.argv.slice(1).map((a) => JSON.parse(a));
console.log(JSON.stringify(linkOf({ id, data })));
"""
CHILD_DATA = """
import { childData } from "./dist/index.js";
const [id, data] = process.argv.slice(1).map((a) => JSON.parse(a));
console.log(JSON.stringify(childData({ id, data }, { entity: "kept" })));
"""


def test_a_python_child_payload_is_read_by_the_package_as_the_same_link() -> None:
    root = JobContext("py-root", JobType.CHECK_ALBUM_ENRICHMENT, None)
    payload = {"entity": "kept", **root.child_link().to_payload()}
    assert _node(LINK_OF, "js-child", payload) == {"rootJobId": "py-root", "parentJobId": "py-root"}
    # a grandchild the package spawns from that child stays flat: the Python root's id
    assert _node(CHILD_DATA, "js-child", payload) == {"entity": "kept", **Link("py-root").to_payload()}


def test_a_package_root_payload_is_a_root_to_python() -> None:
    assert Link.from_payload({"entity": "kept"}) is None
    assert _node(LINK_OF, "js-root", {"entity": "kept"}) == {"rootJobId": "js-root"}


def test_a_package_child_payload_is_read_by_python_as_the_same_link() -> None:
    payload = _node(CHILD_DATA, "js-root", {"entity": "kept"})
    assert payload == {"entity": "kept", **Link("js-root").to_payload()}
    assert Link.from_payload(payload) == Link("js-root")
    # a grandchild spawned on the Python side from that child stays flat: the package root's id
    child = JobContext("py-child", JobType.ENRICH_ALBUM, Link.from_payload(payload))
    assert child.child_link().to_payload() == {"rootJobId": "js-root", "parentJobId": "js-root"}
    grandchild = _node(CHILD_DATA, "js-grandchild", {"entity": "kept", **child.child_link().to_payload()})
    assert Link.from_payload(grandchild) == Link("js-root")


def test_a_payload_with_only_a_root_is_refused_by_python_naming_the_missing_key() -> None:
    with pytest.raises(LinkError, match="job payload has rootJobId but no parentJobId"):
        Link.from_payload({"rootJobId": "js-root"})
