"""JavaScript's ajv (current major, default strict mode, ajv-formats) compiles the generated JSON
Schemas without a warning and agrees with every vector: tests/contract/js/validate.mjs, run by node.

It needs node (>= 18) and `npm ci` in tests/contract/js (scripts/test runs it when node_modules is
missing or older than package-lock.json); without them this test fails, saying so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conformance import SCHEMA_DIR, VECTORS_FILE, load_vectors

JS = Path(__file__).parent / "js"
VECTORS = load_vectors()["vectors"]


@pytest.fixture(scope="module")
def ajv_results() -> dict[str, dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: install Node.js >= 18 to run the ajv contract test")
    if not (JS / "node_modules" / "ajv").is_dir() or not (JS / "node_modules" / "ajv-formats").is_dir():
        pytest.fail(f"ajv is not installed: run `npm ci --no-audit --no-fund` in {JS} (scripts/test does)")
    done = subprocess.run([node, str(JS / "validate.mjs"), str(SCHEMA_DIR), str(VECTORS_FILE)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"validate.mjs exited {done.returncode}: {done.stderr.strip()}"
    output = json.loads(done.stdout)
    assert output["ajv"].startswith("8."), output["ajv"]
    return {r["name"]: r for r in output["results"]}


def test_ajv_saw_every_vector(ajv_results: dict[str, dict[str, Any]]) -> None:
    assert sorted(ajv_results) == sorted(v["name"] for v in VECTORS)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_ajv_agrees(vector: dict[str, Any], ajv_results: dict[str, dict[str, Any]]) -> None:
    expected = None if vector["valid"] or vector["checkedBy"] == "reader" else vector["checkedBy"]
    result = ajv_results[vector["name"]]
    assert result["check"] == expected, result["errors"]
