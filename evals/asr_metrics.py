"""WER (English) and CER (Mandarin) with a documented normalisation.

Normalisation, applied to reference and hypothesis alike:
1. Unicode NFKC (full-width letters, digits and punctuation become half-width).
2. Lower case.
3. Mandarin: Traditional → Simplified is the recogniser's job, not the scorer's; Arabic numerals are
   read out in Chinese (``100`` → ``一百``) so a spoken number matches however it was written.
4. English: number words zero–twenty and tens are written as digits (``ten`` → ``10``).
5. Punctuation (ASCII and CJK) removed; whitespace collapsed. Mandarin is scored per character
   with spaces removed.
"""

from __future__ import annotations

import re
import unicodedata

import cn2an
import jiwer

_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
).split()
_EN_NUMBERS = {w: str(i) for i, w in enumerate(_WORDS)} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
}


def normalise(text: str, language: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    if language == "zh":
        text = str(cn2an.transform(text, "an2cn"))
        text = _PUNCT.sub("", text)
        return re.sub(r"\s+", "", text)
    text = _PUNCT.sub(" ", text.replace("'", ""))
    return " ".join(_EN_NUMBERS.get(w, w) for w in text.split())


def error_rate(reference: str, hypothesis: str, language: str) -> float:
    """CER for Mandarin, WER otherwise, after ``normalise``."""
    ref, hyp = normalise(reference, language), normalise(hypothesis, language)
    if not ref:
        raise ValueError("the reference transcript is empty after normalisation")
    if language == "zh":
        return float(jiwer.cer(ref, hyp))
    return float(jiwer.wer(ref, hyp))


def contains_fact(text: str, fact_variants: list[str], language: str) -> bool:
    """Whether any variant of a fact appears in ``text`` after normalisation (spaces ignored)."""
    norm = normalise(text, language).replace(" ", "")
    return any(normalise(v, language).replace(" ", "") in norm for v in fact_variants)
