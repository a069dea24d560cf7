"""Checks that an answer says only what its passages say.

Two signals, both cheap enough to run on every sentence before it is spoken:

- **numbers**: every figure in the answer (prices, times, weights, counts, phone numbers; Chinese
  numerals converted with cn2an) must appear in the passages. Times also match their hour and
  their 12-hour form ("23:30" supports "11:30" and "晚上11点半"). Small numbers (0–2) are not
  checked: in speech they are usually words ("a", "一下", "两个人").
- **support**: the share of the answer's content words (jieba for Chinese) found in the passages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cn2an
import jieba

_NUMBER = re.compile(r"\d+(?:[.:：]\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_TIME = re.compile(r"(\d{1,2})[:：](\d{2})")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_EN_STOP = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being it its
    this that these those there here you your we our they their i me my can could may might will would
    should do does did not no yes so than then too very just also only about into over under up down out
    per each any all some more most less least one two please sorry have has had get got which what when
    where who how why""".split()
)
_ZH_STOP = frozenset(
    """的 了 是 在 有 和 与 及 或 您 你 我 我们 可以 就 也 都 请 吗 呢 吧 啊 哦
    一下 一个 这 那 这个 那个 个 要 会 能 还 很 到 从 对 为 把 被""".split()
)


def _arabic(text: str) -> str:
    text = _THOUSANDS.sub("", text)
    if re.search(r"[零〇一二两三四五六七八九十百千万]", text):
        try:
            text = str(cn2an.transform(text, "cn2an"))
        except (ValueError, KeyError, IndexError):  # cn2an refuses some mixed forms; keep the text
            pass
    return text


def numbers(text: str) -> set[str]:
    """The figures in ``text`` as normalised strings (times also give their hours, 12-hour forms)."""
    text = _arabic(text)
    found: set[str] = set()
    for m in _NUMBER.finditer(text):
        token = m.group(0).replace("：", ":")
        found.add(token)
        if token.endswith(".0"):
            found.add(token[:-2])
    for m in _TIME.finditer(text):
        hour, minute = int(m.group(1)), m.group(2)
        for h in {hour, hour % 12 or 12, hour + 12 if hour < 12 else hour}:
            found.add(str(h))
            found.add(f"{h}:{minute}")
        found.add(str(int(minute)))
    return found


def _checked(token: str) -> bool:
    try:
        return float(token.split(":")[0]) > 2 or ":" in token
    except ValueError:
        return True


def content_words(text: str, language: str) -> set[str]:
    if language == "zh":
        return {w for w in jieba.lcut(text) if w.strip() and w not in _ZH_STOP and not re.fullmatch(r"\W+", w)}
    return {w for w in _WORD.findall(text.lower()) if w not in _EN_STOP and len(w) > 1}


@dataclass(frozen=True)
class GroundingCheck:
    unsupported_numbers: tuple[str, ...]
    support: float  # share of the answer's content words found in the passages (1.0 when it has none)

    @property
    def ok(self) -> bool:
        return not self.unsupported_numbers


def check(answer: str, passages_text: str, language: str) -> GroundingCheck:
    """Is ``answer`` consistent with ``passages_text``? (numbers exactly, words as a share)."""
    have = numbers(passages_text)
    missing = sorted(n for n in numbers(answer) if _checked(n) and n not in have)
    words = content_words(answer, language)
    if not words:
        return GroundingCheck(tuple(missing), 1.0)
    source = passages_text.lower()
    if language == "zh":
        found = sum(1 for w in words if w in source)
    else:
        vocab = content_words(passages_text, language)
        found = sum(1 for w in words if w in vocab or w.rstrip("s") in vocab or w + "s" in vocab)
    return GroundingCheck(tuple(missing), found / len(words))
