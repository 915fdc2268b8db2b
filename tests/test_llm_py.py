"""``llm="py:module:attribute"``: a model of one's own code, the way a command is given
a model that no provider names (ytqa.llm)."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from tests.scripted_llm import ScriptedChatModel, write_script
from ytqa import LLMConfigurationError, resolve_llm

# Attributes that the specs below name (this module is importable as tests.test_llm_py).
READY_MODEL = FakeListChatModel(responses=["ready"])
NOT_A_MODEL = 42


def returns_a_string(**options: object) -> str:
    return "not a model"


def refuses_options(**options: object) -> FakeListChatModel:
    raise ValueError(f"unknown options {sorted(options)}")


def test_a_factory_is_called_with_the_options(tmp_path: Path) -> None:
    path = write_script(tmp_path / "script.json", [["Hello ", "there."]])
    model = resolve_llm("py:tests.scripted_llm:from_script", script=str(path))
    assert isinstance(model, ScriptedChatModel)
    assert model.invoke("hi").content == "Hello there."


def test_a_model_instance_is_used_as_it_is() -> None:
    assert resolve_llm("py:tests.test_llm_py:READY_MODEL") is READY_MODEL
    assert resolve_llm(" py:tests.test_llm_py:ScriptedChatModel ", replies=[["x"]]).invoke(
        "hi").content == "x"  # a class is a factory too
    with pytest.raises(LLMConfigurationError, match="temperature"):
        resolve_llm("py:tests.test_llm_py:READY_MODEL", temperature=0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("py:tests.test_llm_py", "must name a module and an attribute"),
        ("py::READY_MODEL", "must name a module and an attribute"),
        ("py:tests.no_such_module:model", "cannot be imported .No module named"),
        ("py:tests.test_llm_py:no_such_name", "cannot be imported .*no_such_name"),
        ("py:tests.test_llm_py:NOT_A_MODEL", "is a int: name a LangChain model or a callable"),
        ("py:tests.test_llm_py:returns_a_string", "returned a str, not a LangChain model"),
        ("py:tests.test_llm_py:refuses_options", "Could not create the LLM .*unknown options"),
    ],
)
def test_what_cannot_be_had_says_why(spec: str, message: str) -> None:
    options = {"temperature": 0} if spec.endswith("refuses_options") else {}
    with pytest.raises(LLMConfigurationError, match=message):
        resolve_llm(spec, **options)
