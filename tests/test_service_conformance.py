"""The service answers as its OpenAPI document says: schemathesis generates requests for
every operation (in process, over ASGI, with the bearer token) and checks each answer's
status, content type, body schema, headers and Allow, and that bad input is refused."""

import pytest
from hypothesis import HealthCheck, settings

import numsim
from numsim.service import create_app

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import positive_data_acceptance  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "test-token-0123456789abcdef"
EXAMPLES = 25  # per operation: ~27 operations in a few seconds


def _app():
    registry = numsim.NumberRegistry()
    registry.add(numsim.OutboundNumber("+14155550100", "twilio"), templates=["sales"])
    registry.add(
        numsim.OutboundNumber("+912240000011", "plivo", max_concurrent_calls=2),
        templates=["sales", "eu/reminders"],
    )
    return create_app(registry, token=TOKEN, sync_interval=None)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests every run: a finding is a change, not luck
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_documented(case):
    # Excluded, and only this: "a request the schema allows is accepted". What it finds
    # refused are values no JSON Schema can judge: a phone number (valid by
    # libphonenumber's rules per country), a destination, a CSV file, a country code, a
    # call token; each is rightly a 422 (400; 404 for a token) with the reason. Webhooks are checked
    # too: an unsigned one is a documented 403.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        excluded_checks=[positive_data_acceptance],
    )


def test_the_import_body_is_declared_as_csv_and_json():
    body = schema.raw_schema["paths"]["/numbers/import"]["post"]["requestBody"]
    assert set(body["content"]) == {"text/csv", "application/json"}
    assert body["content"]["application/json"]["schema"]["type"] == "array"
