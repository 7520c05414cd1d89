"""The number model: E.164 parsing, providers, limits, compliance flags, credentials."""

import pytest

from numsim import CredentialRef, InvalidNumberError, OutboundNumber, Provider, Template, validation
from numsim.credentials import CredentialError
from numsim.phone import normalize_e164, phone_info


@pytest.mark.parametrize(
    "raw",
    [
        "+14155551234",
        "+1 (415) 555-1234",
        " +1 415.555.1234 ",
        "+1-415-555-1234",
        "tel:+14155551234",
    ],
)
def test_common_formats_normalize_to_e164(raw):
    assert normalize_e164(raw) == "+14155551234"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("4155551234", "no country code"),
        ("(415) 555-1234", "no country code"),
        ("", "empty"),
        ("   ", "empty"),
        ("+1415", "too short"),
        ("+1415555123456789", "too long"),
        ("+14155551234 ext. 12", "extension"),
        ("+999123456", "country code"),
        ("+10005551234", "not a valid number"),
        ("phone", "no country code"),
        ("+abc", "phone number"),
        ("+1 415 555 O1OO", "letter 'O'"),
        ("+1415555OlOl", "letter 'O'"),
        ("+1-800-FLOWERS", "letter 'F'"),
    ],
)
def test_bad_numbers_are_refused_naming_input_and_reason(raw, why):
    with pytest.raises(InvalidNumberError) as caught:
        normalize_e164(raw)
    assert repr(raw) in str(caught.value)
    assert why in str(caught.value)


@pytest.mark.parametrize("value", [14155551234, None, 4.2, b"+14155551234", ["+14155551234"]])
def test_non_strings_are_refused(value):
    with pytest.raises(InvalidNumberError, match="must be a string"):
        normalize_e164(value)


def test_invalid_number_error_is_a_value_error():
    assert issubclass(InvalidNumberError, ValueError)


def test_phone_info_knows_region_area_code_and_zone():
    info = phone_info("+14155551234")
    assert (info.region, info.area_code) == ("US", "415")
    assert info.time_zones == ("America/Los_Angeles",)
    mobile = phone_info("+919876500001")
    assert mobile.region == "IN" and mobile.area_code is None


def test_outbound_number_normalizes_and_exposes_region():
    number = OutboundNumber("+1 (415) 555-0100", "twilio")
    assert number.e164 == "+14155550100"
    assert number.provider is Provider.TWILIO
    assert number.region == "US"
    assert number.area_code == "415"


@pytest.mark.parametrize("name", ["twilio", "Twilio", " PLIVO ", Provider.EXOTEL])
def test_provider_accepts_enum_and_names(name):
    assert OutboundNumber("+918045000001", name).provider in set(Provider)


def test_unknown_provider_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown provider 'vonage'.*'twilio', 'plivo', 'exotel'"):
        OutboundNumber("+14155550100", "vonage")


def test_twilio_capacity_is_one_whatever_the_channel_count():
    assert OutboundNumber("+14155550100", "twilio", max_concurrent_calls=10).capacity == 1
    assert OutboundNumber("+918045000001", "exotel", max_concurrent_calls=10).capacity == 10
    assert OutboundNumber("+912240000011", "plivo", max_concurrent_calls=3).capacity == 3


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, True, "3", None])
def test_max_concurrent_calls_must_be_a_whole_number_at_least_one(bad):
    with pytest.raises(InvalidNumberError, match="max_concurrent_calls"):
        OutboundNumber("+912240000011", "plivo", max_concurrent_calls=bad)


@pytest.mark.parametrize("field", ["max_calls_per_hour", "max_calls_per_day"])
@pytest.mark.parametrize("bad", [0, -5, 2.5, False, "10"])
def test_caps_are_none_or_whole_numbers_at_least_one(field, bad):
    with pytest.raises(InvalidNumberError, match=field):
        OutboundNumber("+912240000011", "plivo", **{field: bad})


def test_caps_accept_none_and_positive_integers():
    number = OutboundNumber("+912240000011", "plivo", max_calls_per_hour=None, max_calls_per_day=75)
    assert number.max_calls_per_hour is None and number.max_calls_per_day == 75


def test_compliance_flags_must_be_booleans():
    with pytest.raises(InvalidNumberError, match="trai_registered"):
        OutboundNumber("+912240000011", "plivo", trai_registered="yes")


def test_credentials_are_references_and_never_shown_as_secrets(monkeypatch):
    monkeypatch.setenv("NUMSIM_TEST_TOKEN", "s3cr3t-value")
    number = OutboundNumber("+14155550100", "twilio", credentials="env:NUMSIM_TEST_TOKEN")
    assert isinstance(number.credentials, CredentialRef)
    assert "s3cr3t" not in repr(number) and "s3cr3t" not in str(number)
    assert number.credentials.resolve() == "s3cr3t-value"


def test_a_pasted_secret_is_refused_without_echoing_it():
    with pytest.raises(InvalidNumberError) as caught:
        OutboundNumber("+14155550100", "twilio", credentials="ab12cd34ef56-secret")
    assert "ab12cd34ef56" not in str(caught.value)
    assert "reference" in str(caught.value)


def test_missing_credential_is_a_clear_error_without_secret(monkeypatch):
    monkeypatch.delenv("NUMSIM_NOT_SET", raising=False)
    with pytest.raises(CredentialError, match="NUMSIM_NOT_SET is not set"):
        CredentialRef.parse("env:NUMSIM_NOT_SET").resolve()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_concurrent_calls", 99999999999999999999999),
        ("max_calls_per_hour", 10**6 + 1),
        ("max_calls_per_day", 2**63),
        ("max_concurrent_calls", 0),
    ],
)
def test_limits_are_bounded_with_a_clear_error(name, value):
    with pytest.raises(
        InvalidNumberError, match=f"{name} must be a whole number between 1 and 1,000,000"
    ):
        OutboundNumber("+918045000001", "plivo", **{name: value})


def test_numbers_are_values():
    a = OutboundNumber("+14155550100", "twilio")
    assert a == OutboundNumber("+1 415 555 0100", Provider.TWILIO)
    assert len({a, OutboundNumber("+14155550100", "twilio")}) == 1


def test_template_normalizes_and_deduplicates_its_pool():
    template = Template("t-1", ("+1 415 555 0100", "+14155550100", "+14155550101"))
    assert template.numbers == ("+14155550100", "+14155550101")


@pytest.mark.parametrize("bad", ["", " x", "has space", "a;b", None, "x" * 200])
def test_template_ids_are_checked(bad):
    with pytest.raises(ValueError, match="template id"):
        Template(bad)


def _candidates():
    """Example numbers of every region and type, and near misses of each."""
    import phonenumbers

    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            code = str(example.country_code)
            national = e164[1 + len(code) :]
            yield e164
            yield e164[:-1]
            yield e164 + "5"
            for prefix in ("0", "1", "8", "9"):
                yield f"+{code}{prefix}{national}"


def test_the_fast_e164_path_agrees_with_phonenumbers_parse():
    import phonenumbers

    from numsim.phone import _parse_any, _parse_canonical

    checked = 0
    for text in _candidates():
        parsed = phonenumbers.parse(text)
        possible = phonenumbers.is_possible_number_with_reason(parsed)
        valid = possible == phonenumbers.ValidationResult.IS_POSSIBLE and (
            phonenumbers.is_valid_number(parsed)
        )
        if not valid:
            for parse in (phone_info, _parse_any):
                with pytest.raises(InvalidNumberError):
                    parse(text)
            continue
        expected = (
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
            phonenumbers.region_code_for_number(parsed),
        )
        for info in (phone_info(text), _parse_any(text)):
            assert (info.e164, info.region) == expected, text
        checked += _parse_canonical(text) is not None
    assert checked > 2000


def test_region_and_validity_agree_with_phonenumbers_on_random_numbers():
    """Random digits after country codes shared by several regions (+1, +7, +44...),
    single-region ones and non-geographic ones: valid or not, and the region, as
    phonenumbers.is_valid_number and region_code_for_number say."""
    import random

    import phonenumbers

    from numsim.phone import _valid_region

    rng = random.Random(10)
    codes = (1, 7, 44, 47, 61, 262, 290, 358, 590, 599, 91, 49, 33, 55, 800, 808, 870, 882, 979)
    valid = 0
    for code in codes:
        for _ in range(1500):
            digits = "".join(rng.choices("0123456789", k=rng.randint(4, 12)))
            number = phonenumbers.PhoneNumber(country_code=code, national_number=int(digits))
            expected = (
                phonenumbers.region_code_for_number(number)
                if phonenumbers.is_valid_number(number)
                else None
            )
            national = phonenumbers.national_significant_number(number)
            assert _valid_region(number, national) == expected, (code, digits)
            valid += expected is not None
    assert valid > 2000  # the draw holds valid numbers, not only refusals


def test_without_the_fast_path_every_number_takes_parse(monkeypatch):
    import numsim.phone

    monkeypatch.setattr(numsim.phone, "_FAST_PATH", False)
    numsim.phone._parse.cache_clear()
    monkeypatch.setattr(numsim.phone, "_parse_canonical", None)  # would fail if called
    assert normalize_e164("+14155551234") == "+14155551234"
    numsim.phone._parse.cache_clear()


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (
            lambda v: validation.finite("ttl", v, inclusive=False),
            0,
            "ttl must be a finite number > 0",
        ),
        (lambda v: validation.finite("wait", v), float("inf"), "wait must be a finite number >= 0"),
        (lambda v: validation.finite("wait", v), True, "got True"),
        (lambda v: validation.whole("count", v, minimum=1), 2.0, "whole number >= 1, got 2.0"),
        (lambda v: validation.whole("count", v, maximum=9), 10, "between 0 and 9"),
        (lambda v: validation.share("p", v), 1.5, "p must be between 0 and 1"),
        (lambda v: validation.share("p", v, strict=True), 0, "strictly between 0 and 1"),
    ],
)
def test_one_set_of_validators_names_the_input_and_the_rule(check, value, message):
    with pytest.raises(ValueError, match=message):
        check(value)


def test_validators_normalize_what_they_accept():
    import numpy as np

    assert validation.whole("n", np.int64(3)) == 3 and type(validation.whole("n", 3)) is int
    assert validation.finite("s", np.float32(1.5)) == 1.5
    assert validation.share("p", 1) == 1.0


def test_the_fast_path_of_finite_refuses_what_the_slow_path_does():
    for bad in (float("inf"), float("nan"), 0.0, -1.5):
        with pytest.raises(ValueError, match="ttl"):
            validation.finite("ttl", bad, inclusive=False)
    assert validation.finite("ttl", 0.5, inclusive=False) == 0.5
    assert validation.finite("wait", 0.0) == 0.0  # inclusive: the slow path takes the bound
