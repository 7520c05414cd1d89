"""The Python-Lua protocol is by name (allocator/protocol.py): the Lua reads no ARGV
position and no reply field that the protocol does not declare."""

import re
from importlib import resources

import pytest

from numsim.allocator import protocol
from numsim.allocator.redis import SCRIPTS

LUA = resources.files("numsim.allocator") / "lua"


def lua(name):
    return (LUA / f"{name}.lua").read_text()


def code(text):
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_function_reads_its_arguments_by_name_only(script):
    body = code(lua(script))
    assert not re.search(r"ARGV\[\s*\d", body), "an ARGV position by number"
    declared = set(protocol.ARGUMENTS[script].lua().split("=")[0].replace(",", " ").split()[1:])
    used = set(re.findall(r"\bARG_[A-Z_]+\b", body))
    assert used <= declared, f"not in protocol.ARGUMENTS[{script!r}]: {used - declared}"


def test_replies_use_only_declared_fields():
    declared = set(re.findall(r"\b[A-Z_]+_[A-Z_]+\b", protocol.lua_shapes()))
    shapes = tuple(type(shape).__name__ for shape in protocol.SHAPES)
    for name in ("common", *SCRIPTS):
        body = code(lua(name))
        used = {c for c in re.findall(r"\b[A-Z][A-Z_]+\b", body) if c.startswith(shapes)}
        assert used <= declared, f"{name}.lua: undeclared {used - declared}"


def test_arguments_are_packed_by_name_and_each_name_is_required():
    release = protocol.ARGUMENTS["release"]
    assert release.pack(now=1, id="a", number="n") == (1, "a", "n")
    assert protocol.ARGUMENTS["era"].pack(era="x") == ("x",)
    assert protocol.ARGUMENTS["check"].pack(("+1",), now=1, repair="0") == (1, "0", "+1")
    with pytest.raises(KeyError, match="number"):
        release.pack(now=1, id="a")


def test_the_constants_the_lua_reads_are_one_based():
    granted = "GRANTED_OK, GRANTED_ID, GRANTED_NUMBER, GRANTED_EXPIRES, GRANTED_NOW"
    assert f"local {granted}, GRANTED_WIDTH = 1, 2, 3, 4, 5, 5" in protocol.lua_shapes()
    assert (protocol.GRANTED.ok, protocol.GRANTED.id, len(protocol.GRANTED)) == (0, 1, 5)
    assert protocol.ARGUMENTS["acquire"].lua().startswith("local ARG_NOW, ARG_TEMPLATE")
    assert protocol.ARGUMENTS["acquire"].lua().endswith("= 1, 2, 3, 4, 5, 6, 7, 8, 9")
