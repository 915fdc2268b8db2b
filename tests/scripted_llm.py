"""A scripted chat model for the tests of ``ask`` and ``chat``, in this process or in a
``ytqa`` subprocess (``--llm py:tests.scripted_llm:from_script -o script=PATH``).

The LLM is the one remote boundary of answering: this fake stands in for it, and
everything else (the chain, Chroma, MiniLM, the command) is real. Not a test module.

A script is a JSON file::

    {"replies": [["The ", "lens ", {"wait_for": "/tmp/go"}, "was new [00:42]."], ...],
     "record": "/tmp/calls.jsonl"}

Each call of the model takes the next reply and streams its pieces one by one; a
``{"wait_for": PATH}`` step blocks until PATH exists (a test releases it), and
``{"hang": true}`` blocks for good (until Ctrl-C). With ``record``, each call's
messages are appended to that file as one JSON line, ``[[role, text], ...]``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

Step = str | dict[str, Any]


class ScriptedChatModel(BaseChatModel):
    """Replies from a script, streamed a piece at a time, waiting where told to."""

    replies: list[list[Step]]
    record: str | None = None
    _calls: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "ytqa-scripted"

    def _next_reply(self, messages: list[BaseMessage]) -> list[Step]:
        if self.record is not None:
            with Path(self.record).open("a", encoding="utf-8") as log:
                log.write(json.dumps([[m.type, str(m.content)] for m in messages]) + "\n")
        if self._calls >= len(self.replies):
            raise AssertionError(f"the script has {len(self.replies)} replies, no more")
        reply = self.replies[self._calls]
        self._calls += 1
        return reply

    def _pieces(self, reply: list[Step]) -> Iterator[str]:
        for step in reply:
            if isinstance(step, str):
                yield step
            elif "wait_for" in step:
                while not Path(step["wait_for"]).exists():
                    time.sleep(0.02)
            elif step.get("hang"):
                while True:  # until KeyboardInterrupt
                    time.sleep(0.02)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = "".join(self._pieces(self._next_reply(messages)))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for piece in self._pieces(self._next_reply(messages)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


def from_script(script: str) -> ScriptedChatModel:
    """The model of the script file *script* (the ``py:`` factory of ``--llm``)."""
    data = json.loads(Path(script).read_text(encoding="utf-8"))
    return ScriptedChatModel(replies=data["replies"], record=data.get("record"))


def write_script(path: Path, replies: list[list[Step]], record: Path | None = None) -> Path:
    """Write a script for :func:`from_script`; return its path."""
    data: dict[str, Any] = {"replies": replies}
    if record is not None:
        data["record"] = str(record)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def recorded_calls(record: Path) -> list[list[tuple[str, str]]]:
    """The messages of each call, in order, as the model recorded them."""
    if not record.exists():
        return []
    return [
        [(role, text) for role, text in json.loads(line)]
        for line in record.read_text(encoding="utf-8").splitlines()
    ]


class QuotingAgentModel(BaseChatModel):
    """A tool-calling agent model for ``create_agent`` (``--agent-llm
    py:tests.scripted_llm:QuotingAgentModel``): it calls the first tool it is given
    with the user's question, then answers by quoting the first marked line the tool
    returned, with its ``[mm:ss]`` mark, as an agent citing its source would."""

    tool_name: str | None = None

    @property
    def _llm_type(self) -> str:
        return "ytqa-quoting-agent"

    def bind_tools(self, tools: Any, **kwargs: Any) -> QuotingAgentModel:
        names = [getattr(tool, "name", None) for tool in tools]
        return self.model_copy(update={"tool_name": names[0] if names else None})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        results = [m for m in messages if m.type == "tool"]
        if not results:
            question = next(str(m.content) for m in reversed(messages) if m.type == "human")
            call = {"name": self.tool_name, "args": {"query": question}, "id": "call-1",
                    "type": "tool_call"}
            message = AIMessage(content="", tool_calls=[call])
        else:
            content = str(results[-1].content)
            # The first line inside the first excerpt (not a passage's heading).
            line = _MARKED_LINE.search(content, max(0, content.find("<excerpt")))
            text = f"{line['text']} {line['mark']}" if line else "I don't know."
            message = AIMessage(content=text)
        return ChatResult(generations=[ChatGeneration(message=message)])


_MARKED_LINE = re.compile(r"^(?P<mark>\[\d\d:\d\d\]) (?P<text>[^<\n]+)$", re.M)
