"""A resume URL's variables are checked by name and type, every problem named."""

from __future__ import annotations

import base64

from signalway.gateway.services.resume import check_variables

SPEC = {"answer": "string", "amount": "number", "ok": "boolean", "doc": "file"}
GOOD_FILE = {"name": "a.pdf", "content_type": "application/pdf", "data": base64.b64encode(b"%PDF").decode()}


def test_matching_variables_pass() -> None:
    assert check_variables(SPEC, {"answer": "x", "amount": 2.5, "ok": False, "doc": GOOD_FILE}, max_file_bytes=10) == []
    linked = {"name": "a.pdf", "content_type": "application/pdf", "url": "https://files.example/a.pdf"}
    assert check_variables(SPEC, {"answer": "", "amount": 0, "ok": True, "doc": linked}, max_file_bytes=10) == []


def test_each_problem_names_its_variable() -> None:
    problems = check_variables(SPEC, {"answer": 1, "amount": True, "ok": "yes", "doc": "a.pdf", "zzz": 1},
                               max_file_bytes=10)
    assert problems == [
        "unknown variable 'zzz'; this step expects answer, amount, ok, doc",
        "variable 'answer' must be a string",
        "variable 'amount' must be a number",
        "variable 'ok' must be a boolean",
        "variable 'doc' must be a file object {name, content_type, url | data}",
    ]
    assert check_variables(SPEC, {}, max_file_bytes=10) == [
        "missing variable 'answer' (string)", "missing variable 'amount' (number)",
        "missing variable 'ok' (boolean)", "missing variable 'doc' (file)"]


def test_files_are_checked_for_shape_encoding_and_size() -> None:
    def problem(doc: object, limit: int = 10) -> str:
        [only] = check_variables({"doc": "file"}, {"doc": doc}, max_file_bytes=limit)
        return only

    assert "exactly one of" in problem({"name": "a", "content_type": "text/plain"})
    assert "exactly one of" in problem({**GOOD_FILE, "url": "https://x"})
    assert "not valid base64" in problem({**GOOD_FILE, "data": "***"})
    assert "at most 2 bytes" in problem(GOOD_FILE, limit=2)
    assert "invalid `url`" in problem({"name": "a", "content_type": "text/plain", "url": "ftp://x"})
    assert "content_type" in problem({"name": "a", "content_type": "pdf", "url": "https://x"})
    assert "unknown file fields: size" in problem({**GOOD_FILE, "size": 4})
