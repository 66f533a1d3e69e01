"""Per-key rate limits and daily quotas, and the server's cap on concurrent calls: RESOURCE_EXHAUSTED
with RetryInfo and QuotaFailure for the key over its limit, while other keys go on; UNAVAILABLE
(SERVER_BUSY) with RetryInfo from a full server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from fixtures.status import detail, reason_of
from google.rpc import error_details_pb2
from support.auth_apps import INTERNAL_TOKEN
from support.fakes import refuse_the_rest

from simmesh.kit import errors
from simmesh.kit.admission import Admission
from simmesh.kit.auth.authenticator import Authenticator
from simmesh.kit.auth.identity import Identity, Role
from simmesh.kit.auth.key_service import key_binding
from simmesh.kit.auth.keys import new_key
from simmesh.kit.auth.store import MemoryKeyStore
from simmesh.kit.quotas import DAY, DailyQuota, KeyLimits, Limiter, TokenBucket
from simmesh.kit.server import App, binding, build_server
from simmesh.kit.settings import ServerSettings
from simmesh_client.errors import SimmeshError as ClientError
from simmesh_proto.v1 import auth_pb2, auth_pb2_grpc, indexer_pb2, indexer_pb2_grpc


class Clock:
    def __init__(self, now: float = 10 * DAY) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_token_bucket_lets_a_burst_through_then_one_request_per_refill():
    bucket = TokenBucket(rate=2.0, capacity=3.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.6) == pytest.approx(0.4)
    assert [bucket.take(100.0) for _ in range(4)][-1] > 0  # refills to its capacity, never beyond


def test_a_daily_quota_renews_at_midnight_utc():
    quota = DailyQuota(2)
    morning = 3 * DAY + 8 * 3600
    assert quota.take(morning) == 0.0 and quota.take(morning + 1) == 0.0
    assert quota.take(morning + 2) == pytest.approx(16 * 3600 - 2)
    assert quota.take(4 * DAY) == 0.0


def test_the_limiter_refuses_a_key_over_its_rate_with_the_wait_and_leaves_other_keys_alone():
    clock = Clock()
    limiter = Limiter(KeyLimits(rate=100.0), clock=clock)
    limiter.admit("slow", KeyLimits(rate=1.0, burst=2))
    limiter.admit("slow", KeyLimits(rate=1.0, burst=2))
    with pytest.raises(errors.ResourceExhausted) as caught:
        limiter.admit("slow", KeyLimits(rate=1.0, burst=2))
    refusal = caught.value
    assert refusal.reason == "RATE_LIMITED" and refusal.retriable
    assert refusal.retry_after == pytest.approx(1.0)
    assert refusal.quota_violations[0][0] == "keys/slow"
    for _ in range(50):
        limiter.admit("other")  # the server's default: 100/s
    clock.now += 1.0
    limiter.admit("slow", KeyLimits(rate=1.0, burst=2))


def test_the_limiter_refuses_a_key_over_its_daily_quota_until_the_next_utc_day():
    clock = Clock(5 * DAY + 23 * 3600)
    limiter = Limiter(KeyLimits(daily=3), clock=clock)
    for _ in range(3):
        limiter.admit("k")
    with pytest.raises(errors.ResourceExhausted) as caught:
        limiter.admit("k")
    assert caught.value.reason == "QUOTA_EXCEEDED" and not caught.value.retriable
    assert caught.value.retry_after == pytest.approx(3600)
    limiter.admit("k", KeyLimits(daily=10))  # a key's own limit wins over the default
    clock.now = 6 * DAY
    for _ in range(3):
        limiter.admit("k")


def test_a_refusal_carries_retry_info_and_quota_failure_through_a_status_and_back():
    refusal = errors.ResourceExhausted(
        "over", reason="RATE_LIMITED", retriable=True, retry_after=1.25, quota_violations=[("keys/a", "over")]
    )
    status = refusal.to_status()
    assert detail(status, error_details_pb2.RetryInfo).retry_delay.ToMilliseconds() == 1250
    assert detail(status, error_details_pb2.QuotaFailure).violations[0].subject == "keys/a"
    back = errors.from_status(status)
    assert (back.retry_after, back.quota_violations, back.retriable) == (1.25, [("keys/a", "over")], True)


def test_internal_calls_and_the_operator_key_are_not_limited():
    admission = Admission(Limiter(KeyLimits(rate=1.0, burst=1), clock=Clock()))
    for identity in (
        Identity("acme", "k", Role.READER, internal=True),
        Identity("default", "bootstrap", Role.ADMIN, operator=True),
    ):
        for _ in range(5):
            admission.admit(identity)


def test_the_concurrency_cap_refuses_while_full_and_admits_again_after_a_call_leaves():
    admission = Admission(max_calls=2)
    admission.enter()
    admission.enter()
    with pytest.raises(errors.Unavailable) as caught:
        admission.enter()
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE and caught.value.reason == "SERVER_BUSY"
    assert caught.value.retriable and caught.value.retry_after
    admission.leave()
    admission.enter()


class _Collections(indexer_pb2_grpc.IndexerServiceServicer):
    """GetCollection answers at once, or when `gate` is set for `collections/slow`."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting = 0

    async def GetCollection(self, request, context):
        if request.name == "collections/slow":
            self.waiting += 1
            await self.gate.wait()
        return indexer_pb2.Collection(name=request.name)


refuse_the_rest(_Collections, indexer_pb2.DESCRIPTOR.services_by_name["IndexerService"])


@pytest.fixture
async def served() -> AsyncIterator[tuple[App, _Collections, MemoryKeyStore]]:
    """A server with API keys in memory: 1 request/s (burst 1) per key by default, 3 calls at once."""
    store, servicer = MemoryKeyStore(), _Collections()
    settings = ServerSettings(host="127.0.0.1", port=0, key_rate_limit=1.0, key_rate_burst=1, max_concurrent_calls=3)
    app = build_server(
        settings,
        [binding(servicer, indexer_pb2, indexer_pb2_grpc, "IndexerService"), key_binding(store)],
        authenticator=Authenticator(store, internal_token=INTERNAL_TOKEN),
    )
    await app.start()
    try:
        yield app, servicer, store
    finally:
        await app.stop(grace=0)


def _call(stub, key: str, name: str = "collections/a"):
    return stub.GetCollection(
        indexer_pb2.GetCollectionRequest(name=name), metadata=[("authorization", f"Bearer {key}")], timeout=10
    )


async def test_a_rate_limited_key_gets_resource_exhausted_with_retry_info_and_other_keys_are_unaffected(served):
    app, _, store = served
    limited, limited_record = new_key("acme", Role.READER)
    store.put(limited_record)
    admin, admin_record = new_key("acme", Role.ADMIN, limits=KeyLimits(rate=1000.0, burst=1000))
    store.put(admin_record)
    async with grpc.aio.insecure_channel(app.address) as channel:
        stub = indexer_pb2_grpc.IndexerServiceStub(channel)
        created = await auth_pb2_grpc.KeyServiceStub(channel).CreateKey(
            auth_pb2.CreateKeyRequest(role=auth_pb2.ROLE_READER, rate_limit=1000, rate_burst=1000),
            metadata=[("authorization", f"Bearer {admin}")],
        )
        assert (created.key.rate_limit, created.key.rate_burst, created.key.daily_quota) == (1000, 1000, 0)
        roomy = created.secret
        await _call(stub, limited)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _call(stub, limited)
        error = caught.value
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and reason_of(error) == "RATE_LIMITED"
        delay = detail(error, error_details_pb2.RetryInfo).retry_delay.ToNanoseconds() / 1e9
        assert 0.5 < delay <= 1.0
        assert ClientError.from_rpc_error(error).retry_delay == pytest.approx(delay)  # as the SDK shows it
        assert detail(error, error_details_pb2.QuotaFailure).violations[0].subject == f"keys/{limited_record.key_id}"
        for _ in range(20):  # another key of the same tenant, made with its own limit, goes on
            await _call(stub, roomy)
        await asyncio.sleep(delay)
        await _call(stub, limited)  # after the wait RetryInfo named, the limited key gets through again


async def test_a_full_server_answers_server_busy_until_a_call_finishes(served):
    app, servicer, store = served
    keys = []
    for _ in range(5):
        key, record = new_key("acme", Role.READER)
        store.put(record)
        keys.append(key)
    async with grpc.aio.insecure_channel(app.address) as channel:
        stub = indexer_pb2_grpc.IndexerServiceStub(channel)
        slow = [asyncio.ensure_future(_call(stub, key, "collections/slow")) for key in keys[:3]]
        while servicer.waiting < 3:
            await asyncio.sleep(0.01)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _call(stub, keys[3])
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE and reason_of(caught.value) == "SERVER_BUSY"
        assert detail(caught.value, error_details_pb2.RetryInfo).HasField("retry_delay")
        servicer.gate.set()
        await asyncio.gather(*slow)
        await _call(stub, keys[4])
