"""Collection types: the presets they apply at creation, the ListCollections filter, and the
refusal of unknown types; grouped search by default in product collections."""

from __future__ import annotations

import pytest

from simmesh.indexer.collection_types import apply_preset, grouped_by_default, parse_filter, type_for_model
from simmesh.indexer.requests import search_plan
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument
from simmesh_proto.v1 import indexer_pb2

PRODUCT = indexer_pb2.COLLECTION_TYPE_PRODUCT


def preset(**fields) -> indexer_pb2.Collection:
    spec = indexer_pb2.Collection(name="collections/c", **fields)
    apply_preset(spec)
    return spec


@pytest.mark.parametrize(
    ("collection_type", "model"),
    [
        (indexer_pb2.COLLECTION_TYPE_GENERIC, "models/generic"),
        (PRODUCT, "models/generic"),
        (indexer_pb2.COLLECTION_TYPE_COLORS, "models/color"),
        (indexer_pb2.COLLECTION_TYPE_MATCHING, "models/match"),
    ],
)
def test_each_type_binds_its_model(collection_type: int, model: str) -> None:
    assert preset(type=collection_type).model == model


def test_a_product_collection_gets_a_product_field_and_groups_by_default() -> None:
    spec = preset(type=PRODUCT)
    assert spec.product_id_field == "product_id"
    assert grouped_by_default(spec)
    assert not grouped_by_default(preset(type=indexer_pb2.COLLECTION_TYPE_GENERIC))


def test_fields_the_caller_gives_win_over_the_preset() -> None:
    spec = preset(type=PRODUCT, model="models/match", product_id_field="sku")
    assert (spec.model, spec.product_id_field) == ("models/match", "sku")


def test_an_unspecified_type_changes_nothing() -> None:
    assert preset(dimension=8) == indexer_pb2.Collection(name="collections/c", dimension=8)


def test_a_custom_collection_needs_a_model() -> None:
    with pytest.raises(InvalidArgument) as caught:
        preset(type=indexer_pb2.COLLECTION_TYPE_CUSTOM)
    assert caught.value.reason == reasons.MODEL_REQUIRED
    assert preset(type=indexer_pb2.COLLECTION_TYPE_CUSTOM, model="models/mine").model == "models/mine"


def test_an_unknown_type_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        preset(type=42)
    assert caught.value.reason == reasons.INVALID_COLLECTION_TYPE
    assert caught.value.to_status().code == 3  # INVALID_ARGUMENT
    assert "collection.type" in str(caught.value.to_status())


def test_an_unknown_image_keeping_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        preset(dimension=8, image_keeping=9)
    assert caught.value.reason == reasons.INVALID_IMAGE_KEEPING


@pytest.mark.parametrize(
    "text", ["type = PRODUCT", "type=product", "  type =COLLECTION_TYPE_PRODUCT ", "type = Product"]
)
def test_the_filter_names_a_type_in_any_spelling(text: str) -> None:
    assert parse_filter(text) == PRODUCT


def test_an_empty_filter_lists_every_type() -> None:
    assert parse_filter("") is None and parse_filter("  ") is None


@pytest.mark.parametrize("text", ["type = shoes", "kind = product", "type = product AND x = 1", "type"])
def test_an_unknown_filter_is_refused(text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_filter(text)
    assert caught.value.reason in (reasons.INVALID_FILTER, reasons.INVALID_COLLECTION_TYPE)
    assert caught.value.to_status().code == 3


def test_a_model_collection_given_another_model_becomes_custom() -> None:
    generic, custom = indexer_pb2.COLLECTION_TYPE_GENERIC, indexer_pb2.COLLECTION_TYPE_CUSTOM
    assert type_for_model(generic, "models/generic/versions/2") == generic
    assert type_for_model(generic, "models/shoes/versions/1") == custom
    assert type_for_model(PRODUCT, "models/shoes/versions/1") == PRODUCT
    assert type_for_model(indexer_pb2.COLLECTION_TYPE_UNSPECIFIED, "models/x") == 0


def test_a_search_groups_by_the_collection_default_unless_the_request_says() -> None:
    query = indexer_pb2.Query(record_id="a")
    unset = indexer_pb2.SearchRequest(collection="collections/c", queries=[query])
    assert search_plan(unset, lambda _: True).group_by_product is True
    assert search_plan(unset, lambda _: False).group_by_product is False
    assert search_plan(unset).group_by_product is False
    explicit = indexer_pb2.SearchRequest(collection="collections/c", queries=[query], group_by_product=False)
    assert search_plan(explicit, lambda _: True).group_by_product is False
