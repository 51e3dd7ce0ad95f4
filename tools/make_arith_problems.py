"""Generate the seeded two-step arithmetic word-problem set ``arith2``.

Each problem needs two operations (for example a product, then a sum), has
a whole-number answer, and comes with a reference solution written the way
GSM8K solutions are: one ``a op b = c`` step a line, then ``#### answer``.
The same seed writes the same file byte for byte; the shipped file is
``tater_graph/data/arith2_problems.jsonl`` made with the defaults:

    python tools/make_arith_problems.py
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path

NAMES = ("Ava", "Ben", "Chloe", "Dan", "Ella", "Finn", "Grace", "Hugo", "Iris", "Jack", "Kate", "Liam", "Mia",
         "Noah", "Olive", "Paul", "Rosa", "Sam", "Tara", "Omar")
ITEMS = ("apples", "pencils", "stickers", "marbles", "cookies", "stamps", "books", "shells", "cards", "eggs")

Template = Callable[[random.Random, str, str], tuple[str, list[str], int]]


def buys_packs(rng: random.Random, name: str, item: str) -> tuple[str, list[str], int]:
    have, packs, per_pack = rng.randint(2, 30), rng.randint(2, 9), rng.randint(2, 12)
    bought = packs * per_pack
    total = have + bought
    question = (f"{name} has {have} {item}. {name} buys {packs} packs with {per_pack} {item} in each pack. "
                f"How many {item} does {name} have now?")
    return question, [f"The packs hold {packs} * {per_pack} = {bought} {item}.",
                      f"{name} has {have} + {bought} = {total} {item} now."], total


def gives_away(rng: random.Random, name: str, item: str) -> tuple[str, list[str], int]:
    boxes, per_box = rng.randint(2, 9), rng.randint(3, 12)
    have = boxes * per_box
    given = rng.randint(1, have - 1)
    left = have - given
    question = (f"{name} has {boxes} boxes of {item} with {per_box} {item} in each box. "
                f"{name} gives {given} {item} to a friend. How many {item} are left?")
    return question, [f"{name} has {boxes} * {per_box} = {have} {item}.",
                      f"After giving some away, {have} - {given} = {left} {item} are left."], left


def shares_equally(rng: random.Random, name: str, item: str) -> tuple[str, list[str], int]:
    friends, share = rng.randint(2, 8), rng.randint(2, 10)
    first, total = rng.randint(1, friends * share - 1), friends * share
    second = total - first
    question = (f"{name} picks {first} {item} in the morning and {second} {item} in the afternoon. "
                f"{name} shares them equally among {friends} friends. How many {item} does each friend get?")
    return question, [f"{name} picks {first} + {second} = {total} {item}.",
                      f"Each friend gets {total} / {friends} = {share} {item}."], share


def doubles_then_spends(rng: random.Random, name: str, item: str) -> tuple[str, list[str], int]:
    start, factor = rng.randint(3, 25), rng.randint(2, 5)
    grown = start * factor
    used = rng.randint(1, grown - 1)
    left = grown - used
    question = (f"{name} starts with {start} {item}. By the end of the week {name} has {factor} times as many. "
                f"Then {name} uses {used} of them. How many {item} does {name} have?")
    return question, [f"{name} has {start} * {factor} = {grown} {item} at the end of the week.",
                      f"After using some, {grown} - {used} = {left} {item} remain."], left


def two_groups(rng: random.Random, name: str, item: str) -> tuple[str, list[str], int]:
    first, second, per_person = rng.randint(2, 15), rng.randint(2, 15), rng.randint(2, 9)
    people = first + second
    total = people * per_person
    question = (f"{name} invites {first} classmates and {second} neighbors. {name} gives each guest "
                f"{per_person} {item}. How many {item} does {name} give out?")
    return question, [f"There are {first} + {second} = {people} guests.",
                      f"{name} gives out {people} * {per_person} = {total} {item}."], total


TEMPLATES: tuple[Template, ...] = (buys_packs, gives_away, shares_equally, doubles_then_spends, two_groups)


def make_problems(count: int, seed: int) -> list[dict[str, object]]:
    """Return ``count`` problems, cycling through the templates, drawn from ``random.Random(seed)``."""
    rng = random.Random(seed)
    problems = []
    seen: set[str] = set()
    while len(problems) < count:
        template = TEMPLATES[len(problems) % len(TEMPLATES)]
        question, steps, answer = template(rng, rng.choice(NAMES), rng.choice(ITEMS))
        if question in seen:
            continue
        seen.add(question)
        problems.append({"id": f"arith2-{len(problems)}", "question": question, "answer": str(answer),
                         "steps": steps + [f"#### {answer}"]})
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="number of problems (default 300)")
    parser.add_argument("--seed", type=int, default=20261204, help="random seed (default 20261204)")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent.parent / "tater_graph" / "data"
                        / "arith2_problems.jsonl", help="output JSONL file")
    args = parser.parse_args()
    problems = make_problems(args.count, args.seed)
    args.output.write_text("".join(json.dumps(p) + "\n" for p in problems), encoding="utf-8")
    print(f"wrote {len(problems)} problems to {args.output}")


if __name__ == "__main__":
    main()
