"""Profanity censor throughput: better-profanity (the baseline) against moderation.profanity, side
by side in one run, on a seeded corpus of ordinary and profane chat messages. Every output must be
identical (exit status 1 and the first difference otherwise). Nothing is cached between calls:
each pass filters every message afresh. Needs no services and no Django. Times are this process's
CPU time, so that other load on a shared machine counts less.

Run: `.venv/bin/python bench/moderation.py [--messages N] [--profane FRACTION] [--rounds N] [--seed N]`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

from better_profanity import profanity
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moderation import profanity as fast

# Everyday chat, including short words that begin listed ones (`a`, `as`, `so`, `ti`...) and words
# that merely contain one (`class`, `assume`, `Scunthorpe`), which keep the fast path honest.
VOCABULARY = """
hey hi hello ok okay yes no yeah nope thanks thank you sure maybe lol haha brb btw imo tbh idk
I you we they he she it me my your our their this that these those what when where why how who
is are was were be been being have has had do does did will would can could should shall might
a an the and or but so if then than as at by for from in into of on onto to with without about
meeting today tomorrow tonight later soon now again still already just really very quite pretty
build deploy release branch merge review test tests logs server client bug fix patch ticket issue
lunch coffee dinner weekend holiday train bus flight hotel rain sunny weather cold hot nice cool
class assume assumption passage grass glasses Scunthorpe cocktail analysis therapist shuttle title
great good bad awesome amazing weird funny sorry please check send call ping look see know think
""".split()
SEPARATORS = [" "] * 12 + [", ", ". ", "! ", "? ", " - ", "... ", " :) ", " 🙂 ", "\n"]
ENDINGS = ["", "", "", ".", "!", "?", "!!", " 😂", " :)"]


def leet(word: str, rng: random.Random) -> str:
    return "".join(rng.choice(fast.CHARS_MAPPING.get(char, (char,))) for char in word)


def message(rng: random.Random, profane: bool, swear_words: list[str]) -> str:
    words = rng.choices(VOCABULARY, k=rng.randint(3, 30))
    if profane:
        for _ in range(rng.randint(1, 2)):
            swear = rng.choice(swear_words)
            swear = leet(swear, rng) if rng.random() < 0.3 else swear
            words.insert(rng.randrange(len(words) + 1), swear.upper() if rng.random() < 0.2 else swear)
    words[0] = words[0].capitalize()
    text = words[0]
    for word in words[1:]:
        text += rng.choice(SEPARATORS) + word
    return text + rng.choice(ENDINGS)


def corpus(count: int, profane_share: float, seed: int) -> list[tuple[bool, str]]:
    rng = random.Random(seed)
    swear_words = sorted(fast.DEFAULT_WORDS)
    return [
        (profane, message(rng, profane, swear_words))
        for profane in (rng.random() < profane_share for _ in range(count))
    ]


def fast_seconds(texts: list[str], expected: list[str], rounds: int) -> float | None:
    """The median CPU time of one pass of `moderation.profanity.censor` over `texts`, or None when an
    output differs from better-profanity's (then printed)."""
    passes: list[float] = []
    for _ in range(rounds):
        started = time.process_time()
        outputs = [fast.censor(text) for text in texts]
        passes.append(time.process_time() - started)
        for text, want, got in zip(texts, expected, outputs, strict=True):
            if want != got:
                print(f"DIFFERENT for {text!r}:\n  better-profanity {want!r}\n  ours             {got!r}")
                return None
    return statistics.median(passes)


def main(count: int, profane_share: float, rounds: int, seed: int) -> int:
    messages = corpus(count, profane_share, seed)
    profanity.load_censor_words()
    # better-profanity takes milliseconds a message: timing each call on its own costs nothing
    # that shows, and one pass serves every group below.
    expected: list[str] = []
    slow: list[float] = []
    for _, text in tqdm(messages, desc="better-profanity", leave=False):
        started = time.process_time()
        expected.append(profanity.censor(text))
        slow.append(time.process_time() - started)
    groups = {
        "ordinary": [index for index, (profane, _) in enumerate(messages) if not profane],
        "profane": [index for index, (profane, _) in enumerate(messages) if profane],
        "all": list(range(count)),
    }
    print(f"corpus: {count} messages ({len(groups['ordinary'])} ordinary, {len(groups['profane'])} profane), "
          f"3-30 words, seed {seed}; moderation.profanity: median of {rounds} passes")  # fmt: skip
    print(f"{'messages':<10}{'better-profanity':>20}{'moderation.profanity':>24}{'ratio':>10}{'censored':>10}")
    for name, indices in groups.items():
        if not indices:
            continue
        texts = [messages[index][1] for index in indices]
        wanted = [expected[index] for index in indices]
        ours = fast_seconds(texts, wanted, rounds)
        if ours is None:
            return 1
        theirs = sum(slow[index] for index in indices)
        censored = sum(text != out for text, out in zip(texts, wanted, strict=True))
        print(f"{name:<10}{len(texts) / theirs:>14,.0f} msg/s{len(texts) / ours:>18,.0f} msg/s"
              f"{theirs / ours:>9,.0f}x{censored:>10}")  # fmt: skip
    print(f"outputs identical: all {count} messages, in every pass")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--profane", type=float, default=0.1, help="share of profane messages")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(main(args.messages, args.profane, args.rounds, args.seed))
