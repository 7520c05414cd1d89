"""The public names are a contract (docs/architecture.md): they change only on purpose."""

import subprocess
import sys

import numsim
import numsim.planning

EXPECTED = {
    "Allocator",
    "Backend",
    "BackendMisconfigured",
    "BackendUnavailable",
    "CallingHours",
    "CredentialError",
    "CredentialRef",
    "DEFAULT_CALLING_HOURS",
    "DestinationLimit",
    "ImportFileError",
    "InvalidNumberError",
    "Lease",
    "ManualClock",
    "MemoryBackend",
    "NoNumberAvailable",
    "NumberRegistry",
    "OutboundNumber",
    "Provider",
    "Reason",
    "RegistryError",
    "Request",
    "Snapshot",
    "Strategy",
    "Template",
    "UnknownNumberError",
    "UnknownTemplateError",
    "__version__",
}


def test_exported_names():
    assert set(numsim.__all__) == EXPECTED
    for name in numsim.__all__:
        assert getattr(numsim, name) is not None


def test_design_names_exist():
    assert numsim.Provider("twilio") is numsim.Provider.TWILIO
    assert issubclass(numsim.InvalidNumberError, ValueError)
    assert callable(numsim.planning.erlang_b) and callable(numsim.planning.erlang_c)


def test_import_needs_only_the_core():
    # Live services import the allocator: no pandas, simpy, redis or SDKs on import.
    code = (
        "import sys, numsim; "
        "heavy = {'pandas', 'numpy', 'simpy', 'redis', 'twilio', 'plivo', 'matplotlib', "
        "'fastapi', 'uvicorn', 'prometheus_client'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dialer_and_provider_error_load_lazily_without_sdks():
    code = (
        "import sys, numsim; "
        "numsim.Dialer, numsim.ProviderError; "
        "from numsim.providers import CallEvent, CallStatus; "
        "print(sorted({'twilio', 'plivo', 'httpx', 'redis'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from numsim.providers import ProviderError

    assert numsim.ProviderError is ProviderError
    assert numsim.Dialer.__name__ == "Dialer"


def test_lazy_names_are_listed_for_tools():
    assert {"RedisBackend", "Dialer", "ProviderError"} <= set(dir(numsim))


def test_refusal_reasons_compare_equal_to_their_strings():
    assert numsim.Reason.BUSY == "busy"
    assert {"busy": 1}[numsim.Reason.BUSY] == 1
    assert [str(r) for r in numsim.Reason] == list(numsim.allocator.REASONS)
    assert issubclass(numsim.MemoryBackend, numsim.Backend)
