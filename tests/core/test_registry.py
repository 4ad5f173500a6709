"""The shared registry: register, create by name, and a helpful error for unknown names."""

import pytest

from mias.errors import InputError
from mias.registry import Registry


def test_register_get_and_order():
    reg: Registry[type] = Registry("widget")

    @reg.register("b")
    class B:
        pass

    @reg.register("a")
    class A:
        pass

    assert reg.get("a") is A and reg.get("b") is B
    assert reg.names() == ["b", "a"] and "a" in reg and list(reg) == ["b", "a"]


def test_duplicate_is_a_bug_and_unknown_name_lists_choices():
    reg: Registry[object] = Registry("widget")
    reg.register("x")(object)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x")(object)
    with pytest.raises(InputError) as err:
        reg.get("y")
    assert "unknown widget 'y'" in err.value.message and "x" in err.value.message
