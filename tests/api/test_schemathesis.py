"""Property-based run of schemathesis against the schema on a live test server: no
server errors, every status documented, every response matching the schema; with data
that fits the schema and data that does not (wrong types, unknown fields, out of range)."""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.tokens import token_create
from warehouse.models import SKU

EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def api_token(make_user, make_order, channel):
    SKU.objects.create(code="SKU-1", name="cup", attributes={"price": "59.00"})
    make_order("ready_to_pick")
    make_order("paid")
    _token, raw = token_create(name="fuzz", user=make_user("manager"), scope="write",
                               rate_limit=100_000)
    return raw


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_api_against_its_schema(live_server, api_token):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {api_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 9
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
