"""E.164 parsing with phonenumbers, cached: parsing '+14155551234' costs ~3 µs, other forms
(spaces, tel:) ~15 µs, a cache hit ~0.1 µs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache

import phonenumbers
from phonenumbers import PhoneNumberFormat, ValidationResult
from phonenumbers import timezone as phone_timezone
from phonenumbers.phonemetadata import PhoneMetadata, PhoneNumberDesc

from .errors import InvalidNumberError

try:  # the steps of phonenumbers.parse that the E.164 fast path repeats (private names)
    from phonenumbers.phonenumberutil import (
        _maybe_strip_national_prefix_carrier_code as _strip_national_prefix,
    )
    from phonenumbers.phonenumberutil import (
        _set_italian_leading_zeros_for_phone_number as _set_leading_zeros,
    )
    from phonenumbers.phonenumberutil import _test_number_length as _number_length

    _FAST_PATH = True
except ImportError:  # a phonenumbers that renamed them: every number takes parse()
    _FAST_PATH = False

_UNKNOWN_ZONE = "Etc/Unknown"
_CANONICAL = re.compile(r"\+[1-9][0-9]{2,16}")
_NOT_STRIPPED = (
    ValidationResult.TOO_SHORT,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ValidationResult.INVALID_LENGTH,
)
_LETTER = re.compile(r"[^\W\d_]")
_PARSE = phonenumbers.NumberParseException
_WHY_NOT_PARSED = {
    _PARSE.INVALID_COUNTRY_CODE: "unknown country code",
    _PARSE.NOT_A_NUMBER: "not a phone number",
    _PARSE.TOO_SHORT_AFTER_IDD: "too short",
    _PARSE.TOO_SHORT_NSN: "too short",
    _PARSE.TOO_LONG: "too long",
}
_WHY_NOT_POSSIBLE = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong length for its country",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without its area code",
}


@dataclass(frozen=True)
class PhoneInfo:
    """What numsim needs to know about a phone number, worked out once.

    The area code and time zones cost ~80 µs a number: worked out on first use
    only, so a bulk import (which needs neither) does not pay for them.
    """

    e164: str
    region: str  # ISO 3166 alpha-2, e.g. "US"
    number: phonenumbers.PhoneNumber = field(repr=False, compare=False)

    @cached_property
    def area_code(self) -> str | None:
        """The geographic area code where phonenumbers knows one."""
        length = phonenumbers.length_of_geographical_area_code(self.number)
        return phonenumbers.national_significant_number(self.number)[:length] if length else None

    @cached_property
    def time_zones(self) -> tuple[str, ...]:
        """IANA zones the number may be in."""
        zones = phone_timezone.time_zones_for_number(self.number)
        return tuple(z for z in zones if z != _UNKNOWN_ZONE)


def phone_info(value: object, *, what: str = "phone number", cache: bool = True) -> PhoneInfo:
    """Parse and validate `value` as an international number; raise InvalidNumberError.

    ``cache=False`` neither reads nor fills the cache: for numbers seen once (a bulk
    import's), which would only evict the ones the process uses again."""
    if not isinstance(value, str):
        raise InvalidNumberError(
            f"{what} must be a string in E.164 form like '+14155551234', "
            f"got {type(value).__name__} {value!r}"
        )
    try:
        return _parse(value) if cache else _parse_uncached(value)
    except InvalidNumberError as error:
        raise InvalidNumberError(f"invalid {what} {value!r}: {error}") from None


def normalize_e164(value: object, *, what: str = "phone number", cache: bool = True) -> str:
    """Return `value` in E.164 form ("+14155551234"), or raise InvalidNumberError."""
    return phone_info(value, what=what, cache=cache).e164


def _parse_uncached(text: str) -> PhoneInfo:
    stripped = text.strip()
    if _FAST_PATH and _CANONICAL.fullmatch(stripped):
        info = _parse_canonical(stripped)
        if info is not None:
            return info
    return _parse_any(stripped)  # any other form, and every error message


_parse = lru_cache(maxsize=1 << 16)(_parse_uncached)


def _parse_any(stripped: str) -> PhoneInfo:
    if not stripped:
        raise InvalidNumberError("empty")
    if not stripped.startswith(("+", "tel:+")):
        raise InvalidNumberError("no country code; write it in E.164 form, like '+14155551234'")
    try:
        number = phonenumbers.parse(stripped, None)
    except phonenumbers.NumberParseException as error:
        raise InvalidNumberError(
            _WHY_NOT_PARSED.get(error.error_type, "not a phone number")
        ) from None
    if number.extension:
        raise InvalidNumberError("has an extension; an outbound number cannot")
    letter = _LETTER.search(stripped.removeprefix("tel:"))
    if letter:  # phonenumbers reads vanity letters as keypad digits: O becomes 6
        raise InvalidNumberError(
            f"holds the letter {letter.group()!r}; write digits only "
            "(numsim does not read letters as keypad digits)"
        )
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != ValidationResult.IS_POSSIBLE:
        raise InvalidNumberError(_WHY_NOT_POSSIBLE.get(reason, "not a possible number"))
    region = _valid_region(number, phonenumbers.national_significant_number(number))
    if region is None:
        raise InvalidNumberError("not a valid number for its country")
    return PhoneInfo(phonenumbers.format_number(number, PhoneNumberFormat.E164), region, number)


def _valid_region(number: phonenumbers.PhoneNumber, national: str) -> str | None:
    """The region of a valid number (phonenumbers.region_code_for_number), or None if
    phonenumbers.is_valid_number says it is not valid; same answers, a third the time.

    phonenumbers matches a number against every pattern of its region's metadata in a
    fixed order (premium rate first) and, for +1, against each NANP region in turn,
    then again to validate. Here each region's patterns are compiled once, fixed line
    and mobile (most numbers) are tried first, and the region found is not re-matched.
    Tests compare the two on numbers of every region. `national`: the number's
    phonenumbers.national_significant_number.
    """
    code = number.country_code or 0
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    if len(regions) == 1:  # phonenumbers.is_valid_number_for_region of the only region
        return regions[0] if _matches_a_type(national, code, regions[0]) else None
    for region in regions:  # phonenumbers._region_code_for_number_from_list
        leading = _leading_digits(region)
        if leading is None:
            if _matches_a_type(national, code, region):
                return region
        elif leading.match(national):
            return region if _matches_a_type(national, code, region) else None
    return None


_Desc = tuple[frozenset[int], re.Pattern[str]]


@cache  # one entry per region of the metadata (~250)
def _leading_digits(region: str) -> re.Pattern[str] | None:
    metadata = PhoneMetadata.metadata_for_region(region)
    return (
        None
        if metadata is None or metadata.leading_digits is None
        else re.compile(metadata.leading_digits)
    )


@cache  # one entry per region of the metadata (~250)
def _type_patterns(code: int, region: str) -> tuple[_Desc | None, tuple[_Desc, ...]]:
    """A region's general pattern and its number types' patterns, compiled, most common
    types first (fixed line, mobile); None, () if phonenumbers has no metadata."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if metadata is None:
        return None, ()
    kinds = [metadata.fixed_line]
    if not metadata.same_mobile_and_fixed_line_pattern:  # else phonenumbers skips mobile
        kinds.append(metadata.mobile)
    kinds += [
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
    ]
    compiled = (_compiled(kind) for kind in kinds)
    return _compiled(metadata.general_desc), tuple(desc for desc in compiled if desc)


def _compiled(desc: PhoneNumberDesc | None) -> _Desc | None:
    """phonenumbers._is_number_matching_desc's inputs; None: the desc matches nothing."""
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


def _matches(national: str, desc: _Desc) -> bool:
    lengths, pattern = desc
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


def _matches_a_type(national: str, code: int, region: str) -> bool:
    """phonenumbers._number_type_helper(national, metadata) != PhoneNumberType.UNKNOWN."""
    general, kinds = _type_patterns(code, region)
    if general is None or not _matches(national, general):
        return False
    for kind in kinds:  # noqa: SIM110 (any() of a generator costs ~0.4 µs a row more)
        if _matches(national, kind):
            return True
    return False


def _parse_canonical(text: str) -> PhoneInfo | None:
    """_parse_any(text) for a valid number written as '+' and digits, without
    phonenumbers.parse's generic string handling (2/3 of a bulk import), and each step
    done once. The steps are the tail of phonenumbers' _parse_helper, then
    is_possible_number_with_reason and is_valid_number; tests compare the two on
    numbers of every region. None: not valid, or not sure; use _parse_any."""
    digits = text[1:]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    metadata = _metadata(code)
    if metadata is None or len(national) < 2:
        return None
    _, stripped, _ = _strip_national_prefix(national, metadata)
    if stripped != national and _number_length(stripped, metadata) not in _NOT_STRIPPED:
        national = stripped
    if not 2 <= len(national) <= 17:
        return None
    number = phonenumbers.PhoneNumber(country_code=code)
    _set_leading_zeros(national, number)
    number.national_number = int(national)
    national = phonenumbers.national_significant_number(number)
    if _number_length(national, metadata) != ValidationResult.IS_POSSIBLE:
        return None
    region = _valid_region(number, national)
    if region is None:
        return None
    return PhoneInfo(f"+{code}{national}", region, number)  # format_number(number, E164)


@cache  # one entry per country code (~250)
def _metadata(code: int) -> PhoneMetadata | None:
    """The metadata phonenumbers parses and checks the length of a number with."""
    region = phonenumbers.region_code_for_country_code(code)
    return PhoneMetadata.metadata_for_region_or_calling_code(code, region)
