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
    "Dialer",
    "ImportFileError",
    "InvalidNumberError",
    "Lease",
    "ManualClock",
    "MemoryBackend",
    "NoNumberAvailable",
    "NumberRegistry",
    "NumsimError",
    "OutboundNumber",
    "Provider",
    "ProviderError",
    "Reason",
    "RedisBackend",
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


ALLOCATOR = {
    "DEFAULT_CALLING_HOURS",
    "DEFAULT_LEASE_TTL",
    "REASONS",
    "Allocator",
    "AsyncBackend",
    "Backend",
    "CallingHours",
    "Cap",
    "DestinationLimit",
    "Destination",
    "Finding",
    "Grant",
    "Lease",
    "MemoryBackend",
    "NoNumberAvailable",
    "NumberSpec",
    "NumberState",
    "Policy",
    "Reason",
    "Refusal",
    "Request",
    "Snapshot",
    "Strategy",
}


def test_allocator_exports_what_a_backend_implements_and_returns():
    assert set(numsim.allocator.__all__) == ALLOCATOR
    for name in ALLOCATOR:
        assert getattr(numsim.allocator, name) is not None


def test_the_names_the_readme_leads_with_are_exported():
    """`from numsim import *` gives them too (each loaded on first use)."""
    assert {"RedisBackend", "Dialer", "ProviderError", "NumsimError"} <= set(numsim.__all__)
    names: dict[str, object] = {}
    exec("from numsim import *", names)
    assert names["RedisBackend"] is numsim.RedisBackend


def test_every_numsim_error_is_a_numsim_error_and_keeps_its_builtin_base():
    from numsim.errors import NumsimError
    from numsim.planning.sizing import PlanningError
    from numsim.providers import InvalidCallback
    from numsim.service.auth import TokenError
    from numsim.sim.scenario import ScenarioError

    value_errors = [
        numsim.InvalidNumberError,
        numsim.RegistryError,
        numsim.ImportFileError,
        numsim.CredentialError,
        InvalidCallback,
        ScenarioError,
        PlanningError,
        TokenError,
    ]
    others = [numsim.NoNumberAvailable, numsim.ProviderError]
    key_errors = [numsim.UnknownNumberError, numsim.UnknownTemplateError]
    runtime_errors = [numsim.BackendUnavailable, numsim.BackendMisconfigured]
    for error in value_errors + others + key_errors + runtime_errors:
        assert issubclass(error, NumsimError), error
    assert all(issubclass(e, ValueError) for e in value_errors)
    assert all(issubclass(e, KeyError) for e in key_errors)
    assert all(issubclass(e, RuntimeError) for e in runtime_errors)
    assert numsim.NumsimError is NumsimError
    try:
        numsim.OutboundNumber("+1415555", "twilio")
    except numsim.NumsimError as error:  # one clause catches numsim's errors
        assert "+1415555" in str(error)


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


def test_no_public_numsim_exception_is_outside_the_family():
    import importlib
    import inspect
    import pkgutil

    from starlette.exceptions import HTTPException

    outside = []
    for module_info in pkgutil.walk_packages(numsim.__path__, "numsim."):
        if module_info.name.endswith("__main__"):
            continue  # runs the CLI
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
                and not issubclass(value, (numsim.NumsimError, HTTPException))
            ):
                outside.append(f"{module.__name__}.{name}")
    assert outside == []


def test_packages_import_in_layers_without_cycles():
    """formulas below sim, sim below planning: no module of a lower layer imports a
    higher one (typing-only imports aside, lazy ones included), so each layer can be read
    and tested on its own."""
    import ast
    from pathlib import Path

    root = Path(numsim.__file__).parent
    higher = {"formulas": {"sim", "planning"}, "sim": {"planning"}}
    for package, above in higher.items():
        for path in (root / package).glob("*.py"):
            tree = ast.parse(path.read_text())
            typing_only = {
                id(node)
                for block in ast.walk(tree)
                if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                for node in ast.walk(block)
            }
            for node in ast.walk(tree):
                if id(node) in typing_only:
                    continue
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    if node.level == 2:  # from ..x import
                        names = [node.module]
                    elif node.level == 0 and node.module.startswith("numsim."):
                        names = [node.module.removeprefix("numsim.")]
                elif isinstance(node, ast.Import):
                    names = [a.name.removeprefix("numsim.") for a in node.names]
                for name in names:
                    assert name.split(".")[0] not in above, f"{path.name} imports {name}"
