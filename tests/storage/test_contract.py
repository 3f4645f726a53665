"""The Store contract, run against every backend: memory, sqlite and a real Redis."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from gatenet.server.storage import (
    CorruptRecord,
    InvalidPageToken,
    ModelMeta,
    ModelRecord,
    NameTaken,
    StoreError,
    StoreUnavailable,
)
from gatenet_testing.storage_support import Backend, assert_same, check_prefix_pages, make_record


async def test_round_trip(backend: Backend) -> None:
    record = make_record("and-gate", seed=1)
    async with backend.store() as store:
        await store.ping()
        await store.put(record)
        assert_same(await store.get(record.meta.model_id), record)
        assert await store.get_meta(record.meta.model_id) == record.meta
        assert await store.id_for_name("and-gate") == record.meta.model_id
        assert await store.get(make_record().meta.model_id) is None
        assert await store.get_meta(make_record().meta.model_id) is None
        assert await store.id_for_name("nobody") is None
        assert await store.count() == 1
    assert store.backend == backend.kind


async def test_put_again_is_idempotent_but_ids_are_immutable(backend: Backend) -> None:
    record = make_record("twice", seed=2)
    async with backend.store() as store:
        await store.put(record)
        await store.put(record)  # a retry after an ambiguous failure
        assert await store.count() == 1
        other = ModelRecord(dataclasses.replace(record.meta, name="other"), record.tensors)
        with pytest.raises(StoreError, match="already stored; models are immutable"):
            await store.put(other)
        assert await store.id_for_name("other") is None


async def test_names_are_unique_and_a_refused_put_writes_nothing(backend: Backend) -> None:
    first, second = make_record("xor"), make_record("xor")
    async with backend.store() as store:
        await store.put(first)
        with pytest.raises(NameTaken) as caught:
            await store.put(second)
        assert str(caught.value) == f"name 'xor' is already held by model '{first.meta.model_id}'"
        assert await store.get(second.meta.model_id) is None
        assert await store.id_for_name("xor") == first.meta.model_id
        assert await store.count() == 1
        assert [m.model_id for m in (await store.page("", 10))[0]] == [first.meta.model_id]


async def test_unnamed_models_share_no_name(backend: Backend) -> None:
    records = [make_record(""), make_record("")]
    async with backend.store() as store:
        for record in records:
            await store.put(record)
        assert await store.id_for_name("") is None
        assert await store.count() == 2


async def test_delete_removes_the_record_and_frees_its_name(backend: Backend) -> None:
    record, kept = make_record("nand"), make_record("nor")
    async with backend.store() as store:
        await store.put(record)
        await store.put(kept)
        assert await store.delete(record.meta.model_id) == record.meta
        assert await store.delete(record.meta.model_id) is None
        assert await store.get(record.meta.model_id) is None
        assert await store.id_for_name("nand") is None
        assert await store.count() == 1
        again = make_record("nand")
        await store.put(again)
        assert await store.id_for_name("nand") == again.meta.model_id
        assert_same(await store.get(kept.meta.model_id), kept)


async def test_pages_run_oldest_first_with_and_without_a_prefix(backend: Backend) -> None:
    names = ["a%1", "ab", "a_2", "", "a%x", "a\U0010ffff", "a%", "b%", "axe", "a%\U0010ffff"]
    records = [make_record(name) for name in names]
    async with backend.store() as store:
        for record in records:
            await store.put(record)
        for prefix, size in [("", 3), ("", 10), ("", 11), ("a%", 2), ("a_", 1), ("a", 4)]:
            seen, token, pages = [], "", 0
            while True:
                metas, token = await store.page(token, size, prefix)
                assert len(metas) <= size
                seen += [m.name for m in metas]
                pages += 1
                if not token:
                    break
                assert len(metas) == size  # a full page whenever another follows
            assert seen == [n for n in names if n.startswith(prefix)], (prefix, size)
            assert pages == max(1, -(-len(seen) // size)), (prefix, size)
        assert await store.page("", 5, "zzz") == ([], "")


async def test_prefix_pages_match_a_plain_filter_before_and_after_deletes(
    backend: Backend,
) -> None:
    async with backend.store() as store:
        await check_prefix_pages(store)


async def test_paging_survives_deletes_between_pages(backend: Backend) -> None:
    records = [make_record() for _ in range(6)]
    async with backend.store() as store:
        for record in records:
            await store.put(record)
        first, token = await store.page("", 2)
        await store.delete(records[2].meta.model_id)
        await store.delete(records[1].meta.model_id)  # already listed
        rest, token = await store.page(token, 10)
        assert token == ""
        want = [records[i].meta for i in (0, 1, 3, 4, 5)]
        assert first + rest == want


@pytest.mark.parametrize("token", ["abc", "²", "9" * 19, "9" * 5000, "-1", "0", "01", " 1", "1\n"])
async def test_a_token_not_issued_is_refused(backend: Backend, token: str) -> None:
    async with backend.store() as store:
        await store.put(make_record())
        with pytest.raises(InvalidPageToken, match="is not a token this server issued") as caught:
            await store.page(token, 10)
    assert str(caught.value).startswith("page_token: '")
    assert len(str(caught.value)) < 100


async def test_recent_is_newest_first(backend: Backend) -> None:
    records = [make_record(f"m{i}") for i in range(5)]
    async with backend.store() as store:
        assert await store.recent(3) == []
        for record in records:
            await store.put(record)
        got = await store.recent(3)
        assert [r.meta for r in got] == [r.meta for r in records[::-1][:3]]
        assert_same(got[0], records[-1])
        assert len(await store.recent(50)) == 5
        assert await store.recent(0) == []


async def test_corrupt_metadata_is_reported_marked_in_pages_and_skipped_by_recent(
    backend: Backend,
) -> None:
    records = [make_record(f"c{i}") for i in range(4)]
    bad = records[1].meta.model_id
    met: list[tuple[str, str]] = []
    async with backend.store() as store:
        store.on_error(lambda model_id, why: met.append((model_id, why)))
        for record in records:
            await store.put(record)
        backend.corrupt(store, bad, "meta", b"\xff{not json")
        metas, token = await store.page("", 2)
        assert [m.model_id for m in metas] == [r.meta.model_id for r in records[:2]]
        assert metas[1] == ModelMeta(bad, "c1", 1.7e9, {}, damage=metas[1].damage)
        assert metas[0].damage == "" and "metadata" in metas[1].damage
        assert met and met[0][0] == bad and "metadata" in met[0][1]
        rest, _ = await store.page(token, 2)
        assert [m.model_id for m in rest] == [r.meta.model_id for r in records[2:]]
        assert [r.meta.model_id for r in await store.recent(10)] == [
            records[i].meta.model_id for i in (3, 2, 0)
        ]
        with pytest.raises(CorruptRecord) as caught:
            await store.get_meta(bad)
        assert caught.value.model_id == bad
        assert str(caught.value).startswith(f"model '{bad}': its stored record is unreadable (")
        with pytest.raises(CorruptRecord):
            await store.get(bad)
        assert {model_id for model_id, _ in met} == {bad}
        assert await store.count() == 4
        removed = await store.delete(bad)  # a damaged record can still be removed
        assert removed is not None and removed.damage
        assert removed == ModelMeta(bad, "c1", removed.created_at, {}, damage=removed.damage)
        assert await store.id_for_name("c1") is None
        assert await store.count() == 3


@pytest.mark.parametrize(
    "garbage",
    [b"", b"garbage", b"\x08\x00\x00\x00\x00\x00\x00\x00{}", b"\xff" * 64],
)
async def test_corrupt_tensors_fail_get_only(backend: Backend, garbage: bytes) -> None:
    good, bad = make_record("good"), make_record("bad")
    met: list[str] = []
    async with backend.store() as store:
        store.on_error(lambda model_id, why: met.append(model_id))
        await store.put(bad)
        await store.put(good)
        backend.corrupt(store, bad.meta.model_id, "tensors", garbage)
        with pytest.raises(CorruptRecord, match="tensors"):
            await store.get(bad.meta.model_id)
        assert await store.get_meta(bad.meta.model_id) == bad.meta
        listed, _ = await store.page("", 10)  # a listing reads no tensors, but get found them bad
        assert [bool(m.damage) for m in listed] == [True, False]
        assert [r.meta for r in await store.recent(10)] == [good.meta]
        assert met == [bad.meta.model_id, bad.meta.model_id]


async def test_a_flipped_bit_fails_the_checksum_and_a_validator_sees_every_read(
    backend: Backend,
) -> None:
    good, bad = make_record("good"), make_record("bad")
    met: list[str] = []
    checked: list[tuple[str, bool]] = []

    def validator(meta: ModelMeta, tensors: object) -> None:
        checked.append((meta.model_id, tensors is not None))
        if meta.name == "refused":
            raise ValueError("the validator refuses it")

    async with backend.store() as store:
        store.on_error(lambda model_id, why: met.append(why))
        store.validate_with(validator)
        await store.put(bad)
        await store.put(good)
        row = await store._fetch(bad.meta.model_id, tensors=True)  # type: ignore[attr-defined]
        flipped = row.tensors[:-1] + bytes([row.tensors[-1] ^ 1])  # still valid safetensors
        backend.corrupt(store, bad.meta.model_id, "tensors", flipped)
        with pytest.raises(CorruptRecord, match="tensors do not match their checksum"):
            await store.get(bad.meta.model_id)
        assert_same(await store.get(good.meta.model_id), good)
        assert (good.meta.model_id, True) in checked and (good.meta.model_id, False) not in checked
        await store.get_meta(good.meta.model_id)
        assert (good.meta.model_id, False) in checked
        refused = make_record("refused")
        await store.put(refused)
        with pytest.raises(CorruptRecord, match="the validator refuses it"):
            await store.get_meta(refused.meta.model_id)
        metas, _ = await store.page("", 10)
        assert [m.damage for m in metas] == [
            "tensors do not match their checksum",  # known since the get above
            "",
            "the validator refuses it",
        ]
        assert met == ["tensors do not match their checksum"] + ["the validator refuses it"] * 2


async def test_non_finite_values_are_refused_before_writing(backend: Backend) -> None:
    record = make_record("nan")
    tensors = dict(record.tensors, **{"layers.0.bias": np.array([np.nan], np.float32)})
    nan_doc = dataclasses.replace(record.meta, document={"loss": float("inf")})
    async with backend.store() as store:
        with pytest.raises(ValueError, match="NaN or Inf"):
            await store.put(ModelRecord(record.meta, tensors))
        with pytest.raises(ValueError, match="not plain finite JSON"):
            await store.put(ModelRecord(nan_doc, record.tensors))
        with pytest.raises(ValueError, match="not a float32"):
            await store.put(ModelRecord(record.meta, {"w": np.zeros(2, np.float64)}))
        assert await store.count() == 0


async def test_close_ends_invalidations_and_later_calls(backend: Backend) -> None:
    async with backend.store() as store:
        await store.put(make_record())
        consumer = asyncio.create_task(_drain(store.invalidations()))
        await asyncio.sleep(0)
    assert await asyncio.wait_for(consumer, 1.0) == []
    with pytest.raises(StoreUnavailable, match=f"store: {backend.kind} at .* closed"):
        await store.ping()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.get(make_record().meta.model_id)


async def _drain(ids: object) -> list[str]:
    return [model_id async for model_id in ids]  # type: ignore[attr-defined]


async def test_the_raw_scan_walks_both_ways_with_a_prefix(backend: Backend) -> None:
    names = ["a1", "b1", "a2", "a3", "b2", "a4"]
    async with backend.store() as store:
        for name in names:
            await store.put(make_record(name))
        scan = store._scan  # type: ignore[attr-defined]  # the primitive page/recent build on
        newest = await scan(0, 3, "a", newest_first=True, tensors=False)
        assert [(await store.get_meta(row.model_id)).name for row in newest] == ["a4", "a3", "a2"]
        older = await scan(newest[-1].seq, 3, "a", newest_first=True, tensors=True)
        assert [row.tensors is not None for row in older] == [True]
        oldest = await scan(0, 2, "b", newest_first=False, tensors=False)
        assert [(await store.get_meta(row.model_id)).name for row in oldest] == ["b1", "b2"]
