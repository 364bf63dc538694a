"""The tiny suite's synthetic movie-review language.

A toy replica of the IMDb task of the DiscoPOP paper (Sec. 5, "IMDb positive reviews"): a policy is
steered towards positive reviews and scored by a gold reward. Here the language is a small template
grammar over word classes, so that the gold judge (harness.suites.tiny.gold) can check fluency exactly:
a word-class bigram that no template produces is "impossible".

A review is ``opener + subject`` (the prompt, which stops mid-sentence) followed by the completion:
the rest of that sentence, zero to two more sentences, and the end-of-sequence token.
"""

from __future__ import annotations

import random
from types import MappingProxyType

EOS = "<eos>"
PAD = "<pad>"
UNK = "<unk>"

# Adjective -> sentiment weight in [-1, 1]; the gold reward is their MEAN over a completion.
POSITIVE = MappingProxyType({
    "great": 1.0, "wonderful": 1.0, "brilliant": 1.0, "excellent": 1.0, "superb": 0.9, "beautiful": 0.8,
    "moving": 0.7, "charming": 0.7, "clever": 0.6, "fun": 0.6, "enjoyable": 0.6, "solid": 0.4,
    "good": 0.5, "nice": 0.4, "decent": 0.3, "fresh": 0.5,
})
NEGATIVE = MappingProxyType({
    "awful": -1.0, "terrible": -1.0, "horrible": -1.0, "boring": -0.8, "poor": -0.7, "dull": -0.7,
    "bad": -0.6, "weak": -0.5, "messy": -0.5, "silly": -0.4, "forgettable": -0.4, "predictable": -0.3,
    "bland": -0.5, "clumsy": -0.5, "tedious": -0.8, "flat": -0.4,
})
NEUTRAL = MappingProxyType({
    "long": 0.0, "short": 0.0, "simple": 0.0, "typical": 0.0, "quiet": 0.0, "strange": 0.0,
    "different": 0.0, "loud": 0.0, "unusual": 0.0, "familiar": 0.0,
})
ADJECTIVES = MappingProxyType({**POSITIVE, **NEGATIVE, **NEUTRAL})

NOUNS = ("movie", "film", "plot", "story", "acting", "cast", "ending", "script", "music", "director",
         "dialogue", "pacing", "soundtrack", "scenery", "humor", "lead")
WORD_CLASSES = MappingProxyType({
    "DET": ("the", "this"),
    "NOUN": NOUNS,
    "BE": ("was", "is", "felt", "seemed"),
    "ADV": ("very", "really", "quite", "truly", "rather", "so"),
    "ADJ": tuple(ADJECTIVES),
    "AND": ("and",),
    "BUT": ("but",),
    "I": ("i",),
    "THINK": ("thought", "found", "felt"),  # "felt" is also BE; the class test allows either reading
    "IT": ("it",),
    "OVERALL": ("overall", "honestly", "still"),
    "COMMA": (",",),
    "DOT": (".",),
    "EOS": (EOS,),
})

# Sentence templates as class sequences; "ADV?" is optional. Completions may only use bigrams that
# these templates produce (plus sentence-to-sentence and sentence-to-EOS transitions).
TEMPLATES = (
    ("DET", "NOUN", "BE", "ADV?", "ADJ", "DOT"),
    ("DET", "NOUN", "BE", "ADV?", "ADJ", "AND", "ADV?", "ADJ", "DOT"),
    ("DET", "NOUN", "BE", "ADV?", "ADJ", "COMMA", "BUT", "DET", "NOUN", "BE", "ADV?", "ADJ", "DOT"),
    ("I", "THINK", "DET", "NOUN", "BE", "ADV?", "ADJ", "DOT"),
    ("IT", "BE", "ADV?", "ADJ", "DOT"),
    ("OVERALL", "COMMA", "IT", "BE", "ADV?", "ADJ", "DOT"),
)
# How far into a template the prompt runs (the completion starts with BE or THINK's object).
PROMPT_SUBJECTS = (
    ("DET", "NOUN"), ("I", "THINK", "DET", "NOUN"), ("IT",), ("OVERALL", "COMMA", "IT"),
)
# Review openings: prompt-only words; in a completion they are off-topic (a fluency violation).
OPENERS = (
    "i watched this movie last night .", "we saw the film on friday .", "i rented this one yesterday .",
    "my friend recommended this film .", "we went to the cinema on sunday .", "i finally saw this movie .",
    "my sister picked this one .", "i watched it at home .", "we saw it last week .",
    "i caught this film on tv .", "my family watched this movie .", "i saw it twice .",
    "we rented it on saturday .", "i watched this one alone .", "my friend and i saw it .",
    "i went in with low hopes .",
)
OPENER_WORDS = tuple(sorted({w for o in OPENERS for w in o.split()} - {w for c in WORD_CLASSES.values() for w in c}))

MOODS = ("positive", "negative", "mixed", "neutral")
# Mood of an SFT review -> probabilities of drawing a positive / negative / neutral adjective.
MOOD_MIX = MappingProxyType({
    "positive": (0.75, 0.1, 0.15), "negative": (0.1, 0.75, 0.15),
    "mixed": (0.4, 0.4, 0.2), "neutral": (0.2, 0.2, 0.6),
})


def vocabulary() -> list[str]:
    """All words, specials first, in a fixed order (the tokenizer's ids)."""
    words = [PAD, EOS, UNK]
    for cls_words in WORD_CLASSES.values():
        words += [w for w in cls_words if w not in words]
    words += [w for w in OPENER_WORDS if w not in words]
    return words


def expand(template: tuple[str, ...], rng: random.Random, adv_p: float = 0.3) -> list[str]:
    """Concrete class sequence of a template: each optional ADV is kept with probability ``adv_p``."""
    out = []
    for cls in template:
        if cls.endswith("?"):
            if rng.random() < adv_p:
                out.append(cls[:-1])
        else:
            out.append(cls)
    return out


def allowed_bigrams() -> frozenset[tuple[str, str]]:
    """Class bigrams the grammar can produce, including across sentences and into EOS."""
    pairs: set[tuple[str, str]] = set()
    starts = {t[0] for t in TEMPLATES}
    for t in TEMPLATES:
        seqs = [[]]
        for cls in t:
            if cls.endswith("?"):
                seqs = [s + [cls[:-1]] for s in seqs] + [list(s) for s in seqs]
            else:
                seqs = [s + [cls] for s in seqs]
        for s in seqs:
            pairs.update(zip(s, s[1:], strict=False))
    pairs.update(("DOT", s) for s in starts)
    pairs.add(("DOT", "EOS"))
    return frozenset(pairs)


def classes_of(word: str) -> tuple[str, ...]:
    """Every class a word can belong to (a few words are ambiguous, e.g. "felt")."""
    return tuple(c for c, ws in WORD_CLASSES.items() if word in ws)


def _adjective(rng: random.Random, mood: str, used: set[str]) -> str:
    p_pos, p_neg, _ = MOOD_MIX[mood]
    r = rng.random()
    pool = POSITIVE if r < p_pos else NEGATIVE if r < p_pos + p_neg else NEUTRAL
    choices = [a for a in pool if a not in used] or list(pool)
    word = rng.choice(choices)
    used.add(word)
    return word


def realise(classes: list[str], rng: random.Random, mood: str, used: set[str]) -> list[str]:
    """Words for a class sequence; adjectives follow the mood and are not repeated within a review."""
    words = []
    for cls in classes:
        if cls == "ADJ":
            words.append(_adjective(rng, mood, used))
        elif cls == "THINK":
            words.append(rng.choice(("thought", "found")))
        else:
            words.append(rng.choice(WORD_CLASSES[cls]))
    return words


def sample_prompt(rng: random.Random) -> str:
    """A review opening that stops mid-sentence, e.g. "we saw it last week . the plot"."""
    subject = rng.choice(PROMPT_SUBJECTS)
    return rng.choice(OPENERS) + " " + " ".join(realise(list(subject), rng, "neutral", set()))


def sample_completion(prompt: str, rng: random.Random, mood: str | None = None) -> str:
    """An SFT completion of ``prompt``: finish its sentence, add 0-1 sentences, end with EOS.

    Short reviews keep every training and sampling step cheap on a CPU; one or two sentences leave
    enough room to steer sentiment."""
    mood = mood or rng.choice(MOODS)
    used: set[str] = set()
    tail = prompt.split()[-1]
    starts = [t for t in TEMPLATES if _subject_len(t, tail) is not None]
    template = rng.choice(starts)
    first = expand(template, rng)[_subject_len(template, tail):]
    words = realise(first, rng, mood, used)
    for _ in range(rng.choice((0, 1, 1))):
        words += realise(expand(rng.choice(TEMPLATES), rng), rng, mood, used)
    return " ".join(words + [EOS])


def _subject_len(template: tuple[str, ...], tail: str) -> int | None:
    """Length of the prompt subject inside ``template`` when the prompt ends with word ``tail``."""
    tail_classes = classes_of(tail)
    for subject in PROMPT_SUBJECTS:
        if tuple(template[: len(subject)]) == subject and subject[-1] in tail_classes:
            return len(subject)
    return None


def prompt_pool(seed: int, n: int) -> list[str]:
    """``n`` distinct prompts in a seeded order (the suite splits them into train and held-out)."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    attempts = 0
    while len(seen) < n:
        seen.setdefault(sample_prompt(rng), None)
        attempts += 1
        if attempts > 100 * n:
            raise ValueError(f"the grammar cannot produce {n} distinct prompts (got {len(seen)})")
    return list(seen)
