"""Kubernetes' image pull states from the backend's failures: ErrImagePull first, then
ImagePullBackOff, the engine's error kept in both."""

from __future__ import annotations

from minikn.replicas.lifecycle import pull_backoff
from minikn.replicas.types import ErrImagePull

ERROR = 'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused'


def test_the_first_failed_pull_is_err_image_pull_with_the_engines_error() -> None:
    err = ErrImagePull("127.0.0.1:1/kserve/huggingfaceserver:v0.15.2", ERROR)
    assert err.reason == "ErrImagePull"
    assert err.message == (
        f'Failed to pull image "127.0.0.1:1/kserve/huggingfaceserver:v0.15.2": {ERROR}'
    )
    assert pull_backoff(err.reason, err.message, 1) == (err.reason, err.message)


def test_later_failed_pulls_back_off_keeping_the_engines_error() -> None:
    err = ErrImagePull("kserve/huggingfaceserver:v0.15.2", ERROR)
    assert pull_backoff(err.reason, err.message, 2) == (
        "ImagePullBackOff",
        f'Back-off pulling image "kserve/huggingfaceserver:v0.15.2": {ERROR}',
    )


def test_other_failures_keep_their_reason() -> None:
    assert pull_backoff("CrashLoopBackOff", "exited", 5) == ("CrashLoopBackOff", "exited")


def test_a_long_multi_line_engine_error_is_one_bounded_line() -> None:
    err = ErrImagePull("x:1", "line one\nline two " + "y" * 5000)
    assert "\n" not in err.message
    assert len(err.message) < 1100


class _StalledPull:
    """A Docker API whose pull stream stops making progress: the client's read times out."""

    def pull(self, *_args: object, **_kwargs: object) -> object:
        import requests.exceptions

        raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")


def test_a_pull_that_stops_making_progress_is_err_image_pull_not_a_crash() -> None:
    import types

    import pytest

    from minikn.config.local import ReplicasConfig
    from minikn.replicas.docker_backend import DockerBackend

    backend = DockerBackend(
        ReplicasConfig(), client=types.SimpleNamespace(api=_StalledPull()), platform="t"
    )
    with pytest.raises(ErrImagePull) as caught:
        backend._pull("registry.example/slow:1")
    assert caught.value.reason == "ErrImagePull"
    assert "made no progress" in caught.value.message
    assert "Read timed out" in caught.value.message
