"""Prompts folded to the forms rules are matched against: case, accents, spacing and simple
obfuscation (``N u d e``, ``n.u.d.e``, ``nuuude``, ``s3x``) all fold to the same words."""

from __future__ import annotations

import re
import unicodedata

# Leetspeak: what digits and symbols stand for when they stand in for letters.
LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_SEPARATORS = re.compile(r"[\W_]+")
# Three or more single characters in a row are one word spelled out: "n u d e" is "nude".
_SPELLED_OUT = re.compile(r"(?<!\w)(?:\w ){2,}\w(?!\w)")
# A letter said three times or more is said once ("nuuude"); doubles are real spelling ("teen").
_STRETCHED = re.compile(r"([^\W\d_])\1{2,}")


def fold(text: str) -> str:
    """Lower case without accents: compatibility forms (fullwidth, ligatures) to plain letters,
    then combining marks dropped."""
    if text.isascii():
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def normalise(text: str, *, leet: bool = False, join: bool = True) -> str:
    """Words separated by single spaces, obfuscation undone; ``leet`` also reads digits and
    symbols as the letters they look like (kept apart: "15 year old" must keep its digits);
    ``join`` makes one word of single characters in a row ("n u d e", but also "a n u d e")."""
    return _normalised(fold(text), leet=leet, join=join)


def _normalised(folded: str, *, leet: bool, join: bool) -> str:
    if leet:
        folded = folded.translate(LEET)
    spaced = _SEPARATORS.sub(" ", folded).strip()
    if join:
        spaced = _SPELLED_OUT.sub(lambda match: match.group(0).replace(" ", ""), spaced)
    return _STRETCHED.sub(r"\1", spaced)


def views(text: str) -> tuple[str, ...]:
    """Every form a rule looks at: normalised with and without single letters joined, each
    also read as leetspeak."""
    folded = fold(text)
    forms = (
        _normalised(folded, leet=leet, join=join)
        for leet in (False, True)
        for join in (True, False)
    )
    return tuple(dict.fromkeys(forms))


def term_pattern(term: str) -> str:
    """A regular expression for a word or phrase of a rule, matched against ``views``.

    Each letter may be repeated and a space may stand between any two (``nu de``, ``nuude``),
    and a trailing ``*`` matches any ending (``undress*``). It is to be placed between word
    boundaries (``words_pattern``): a term is whole words.
    """
    prefix = term.rstrip().endswith("*")
    letters = normalise(term.rstrip().rstrip("*")).replace(" ", "")
    if not letters:
        raise ValueError(f"the word {term!r} has no letters or digits")
    body = " ?".join(re.escape(char) + "+" for char in letters)
    return body + (r"\w*" if prefix else "")


def words_pattern(terms: list[str]) -> str:
    """One expression for many terms, the word boundaries checked once for all of them."""
    return r"(?<!\w)(?:" + "|".join(term_pattern(term) for term in terms) + r")(?!\w)"
