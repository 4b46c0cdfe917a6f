"""The API's memory of recent apply bodies: recognised only by the same bytes, charset and
type; bounded in bodies, documents and bytes."""

from __future__ import annotations

from minikn.api.documents import Document, content_digest
from minikn.apiserver.heads import BodyHeads


def _doc(name: str) -> Document:
    body = {"kind": "InferenceService", "metadata": {"name": name}, "spec": {"x": name}}
    return Document("<request>", 0, body, None, content_digest(body))


def test_the_same_bytes_give_the_heads_without_the_body() -> None:
    heads = BodyHeads()
    heads.put(b"body-a", None, False, [_doc("a")])
    [head] = heads.get(b"body-a", None, False) or []
    assert (head.kind, head.name, head.namespace, head.digest) == (
        "InferenceService",
        "a",
        "default",
        _doc("a").digest,
    )
    assert "spec" not in head.body


def test_other_bytes_of_the_same_length_charset_or_type_are_not_recognised() -> None:
    heads = BodyHeads()
    heads.put(b"x" * 2000 + b"1" + b"x" * 2000, None, False, [_doc("a")])
    assert heads.get(b"x" * 2000 + b"2" + b"x" * 2000, None, False) is None
    heads.put(b"body", None, False, [_doc("a")])
    assert heads.get(b"body", "utf-8", False) is None
    assert heads.get(b"body", None, True) is None


def test_documents_without_a_digest_are_not_remembered() -> None:
    heads = BodyHeads()
    heads.put(b"body", None, False, [Document("<request>", 0, {"kind": "X"})])
    assert heads.get(b"body", None, False) is None


def test_the_least_recently_used_body_goes_first_past_the_byte_bound() -> None:
    heads = BodyHeads(max_bytes=10)
    heads.put(b"aaaa", None, False, [_doc("a")])
    heads.put(b"bbbb", None, False, [_doc("b")])
    assert heads.get(b"aaaa", None, False) is not None  # now the most recent
    heads.put(b"cccc", None, False, [_doc("c")])
    assert heads.get(b"bbbb", None, False) is None
    assert heads.get(b"aaaa", None, False) is not None
    heads.put(b"x" * 11, None, False, [_doc("x")])  # larger than the bound: not kept
    assert heads.get(b"x" * 11, None, False) is None


def test_bodies_and_documents_are_bounded() -> None:
    heads = BodyHeads(entries=2, documents=3)
    for i in range(3):
        heads.put(f"body-{i}".encode(), None, False, [_doc(str(i))])
    assert heads.get(b"body-0", None, False) is None
    heads.put(b"many", None, False, [_doc("p"), _doc("q")])
    assert heads.get(b"body-1", None, False) is None  # 1 + 2 documents at most 3
    assert heads.get(b"many", None, False) is not None
