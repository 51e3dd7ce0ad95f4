"""Few-shot completion prompts for base models (no chat template).

The layout puts each reasoning step on its own line and the final answer
after ``####``, as GSM8K reference solutions do, so searches split
generated text with the ``newline`` step delimiter and stop at a blank line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from tater_graph.datasets import gsm8k_solution_steps, read_records

INSTRUCTION = "Solve each math word problem step by step. Write the final answer after ####.\n\n"
STOP = ("\n\n", "\nQuestion:")
QUESTION_MARK = "Question:"
ANSWER_MARK = "Answer:\n"


@dataclass(frozen=True)
class Shot:
    """One worked example: a question and its solution steps (last one ``#### answer``)."""

    question: str
    steps: tuple[str, ...]


@lru_cache(maxsize=1)
def default_shots(count: int = 4) -> tuple[Shot, ...]:
    """Return the ``count`` shortest GSM8K train solutions among the first 200 problems."""
    records = read_records("gsm8k_train.jsonl.gz")[:200]
    shots = [Shot(r["question"], tuple(gsm8k_solution_steps(r["answer"]))) for r in records]
    shots.sort(key=lambda shot: len(shot.question) + sum(len(s) for s in shot.steps))
    return tuple(shots[:count])


def format_solution(steps: Sequence[str]) -> str:
    return "".join(step + "\n" for step in steps)


def build_prompt(question: str, shots: Sequence[Shot] = (), prefix_steps: Sequence[str] = (),
                 hints: Sequence[str] = ()) -> str:
    """Return the completion prompt for ``question``.

    ``prefix_steps`` are steps already taken (the model continues after them).
    ``hints`` are verified steps from similar solved problems, shown before
    the question.
    """
    parts = [INSTRUCTION]
    for shot in shots:
        parts.append(f"Question: {shot.question}\nAnswer:\n{format_solution(shot.steps)}\n")
    if hints:
        parts.append("Useful facts from similar solved problems:\n" + "".join(f"- {h}\n" for h in hints) + "\n")
    parts.append(f"Question: {question}\nAnswer:\n{format_solution(prefix_steps)}")
    return "".join(parts)


def parse_prompt(prompt: str) -> tuple[str, str]:
    """Return the question of a prompt from :func:`build_prompt` and the solution text after it.

    >>> parse_prompt(build_prompt("What is 2 + 3?", prefix_steps=["2 + 3 = 5"]))
    ('What is 2 + 3?', '2 + 3 = 5\\n')
    """
    marker = prompt.rfind(QUESTION_MARK)
    block = prompt[marker + len(QUESTION_MARK):] if marker >= 0 else prompt
    question, _, solution = block.partition(ANSWER_MARK)
    return question.strip(), solution
