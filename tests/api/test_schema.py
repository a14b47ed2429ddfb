"""The OpenAPI 3 schema validates, documents every endpoint's errors, and the docs page
is served (its scripts are static files: the strict CSP holds)."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from api.errors import ERROR_STATUSES


def test_the_schema_validates(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(json.loads(json.dumps(schema)))
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert {"/api/v1/orders", "/api/v1/orders/{number}", "/api/v1/orders/{number}/notes",
            "/api/v1/orders/{number}/change-requests", "/api/v1/wms/outbound",
            "/api/v1/stock", "/api/v1/channels", "/api/v1/audit"} <= set(paths)
    for path, operations in paths.items():
        for method, operation in operations.items():
            documented = {int(code) for code in operation["responses"]}
            assert set(ERROR_STATUSES) <= documented, (method, path)
            assert operation.get("security"), (method, path)
    # Unknown fields are refused, and the schema says so.
    order_in = schema["components"]["schemas"]["OrderIn"]
    assert order_in["additionalProperties"] is False


def test_the_docs_page(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui-bundle.js" in page and "<script>" not in page
