"""Prompts of the smol suite: an everyday task plus verifiable instructions (harness.judges.ifeval).

Tasks are short requests a 135M chat model answers in a few sentences; the instructions come from
the judge's catalogue with seeded arguments, so every prompt is scored by code. Train and eval
prompts are drawn from disjoint task lists: the policy is judged on tasks it never trained on.
"""

from __future__ import annotations

import random

from harness.judges.ifeval import Instruction

TASKS = (
    "Describe the ocean.", "Explain why people drink coffee.", "Give advice for a job interview.",
    "Describe your favourite season.", "Explain how to make tea.", "Describe a busy city street.",
    "Explain why sleep is important.", "Describe a walk in the forest.", "Give tips for learning a language.",
    "Explain what a computer does.", "Describe a birthday party.", "Explain why exercise is healthy.",
    "Describe a rainy day.", "Give advice for saving money.", "Explain how plants grow.",
    "Describe a good friend.", "Explain why reading books is useful.", "Describe a trip to the beach.",
    "Give tips for cooking pasta.", "Explain what the moon is.", "Describe a mountain village.",
    "Explain why dogs are popular pets.", "Describe breakfast in the morning.", "Give advice for a first day at school.",
    "Explain how a bicycle works.", "Describe a snowy winter night.", "Explain why music makes people happy.",
    "Describe a small garden.", "Give tips for staying focused.", "Explain what rain is.",
    "Describe a train journey.", "Explain why teamwork matters.", "Describe an old library.",
    "Give advice for writing a letter.", "Explain how bees make honey.", "Describe a sunset.",
    "Explain why water is important.", "Describe a football match.", "Give tips for a picnic.",
    "Explain what a volcano is.", "Describe a quiet morning.", "Explain why people travel.",
    "Describe a farmers market.", "Give advice for keeping a room tidy.", "Explain how the sun gives light.",
    "Describe a thunderstorm.", "Explain why smiling helps.", "Describe a museum visit.",
)
KEYWORDS = ("blue", "happy", "water", "light", "friend", "small", "green", "time", "home", "music")
START_WORDS = ("Yes", "Today", "Sure", "Well", "First")


def random_instruction(rng: random.Random, kinds: tuple[str, ...]) -> Instruction:
    kind = rng.choice(kinds)
    arg = {
        "max_words": lambda: str(rng.choice((10, 15, 20))),
        "min_words": lambda: str(rng.choice((15, 20))),  # reachable within 36 new tokens
        "keyword": lambda: rng.choice(KEYWORDS),
        "start_word": lambda: rng.choice(START_WORDS),
        "bullets": lambda: str(rng.choice((2, 3))),
    }.get(kind, lambda: "")()
    return Instruction(kind, arg)


def make_prompts(tasks: tuple[str, ...], n: int, *, seed: int, kinds: tuple[str, ...],
                 max_instructions: int) -> list[str]:
    """``n`` distinct prompts: a task followed by 1..max_instructions instructions of distinct kinds."""
    rng = random.Random(seed)
    prompts: list[str] = []
    seen: set[str] = set()
    for _ in range(n * 50):
        task = rng.choice(tasks)
        count = rng.randint(1, max_instructions)
        chosen: dict[str, Instruction] = {}
        while len(chosen) < count:
            ins = random_instruction(rng, kinds)
            chosen.setdefault(ins.kind, ins)
        if {"max_words", "min_words"} <= chosen.keys() or {"lowercase", "uppercase"} <= chosen.keys():
            continue  # contradictory pair
        prompt = " ".join([task, *(i.text() for i in chosen.values())])
        if prompt not in seen:
            seen.add(prompt)
            prompts.append(prompt)
        if len(prompts) == n:
            return prompts
    raise ValueError(f"could not draw {n} distinct prompts from {len(tasks)} tasks")


def split_tasks(seed: int, eval_fraction: float = 0.33) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(train tasks, eval tasks), disjoint."""
    tasks = list(TASKS)
    random.Random(seed).shuffle(tasks)
    k = max(1, int(len(tasks) * eval_fraction))
    return tuple(tasks[k:]), tuple(tasks[:k])
