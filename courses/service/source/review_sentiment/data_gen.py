"""Synthetic Korean product reviews for the review-sentiment assignment.

Generating process (``DATA_VERSION = "1"``)
-------------------------------------------
Each review is assembled from templates and labelled **by construction**:

1. A product ``category`` (전자기기 / 의류 / 식품 / 생활용품) and one or two
   aspect nouns from that category or the shared ones (배송, 가격, 포장, ...).
2. A final clause ``{noun}{은/는} {intensifier} {predicate}``. The predicate is
   an evaluative adjective or verb (positive: 좋다, 만족스럽다, 만족하다,
   괜찮다, 마음에 들다, 훌륭하다; negative: 나쁘다, 실망스럽다, 불편하다,
   아쉽다, and 별로다 in its plain form only) in one of
   four ``negation`` forms:

   - ``none``: plain form (좋아요, 별로예요);
   - ``short``: 안/못 before the verb (안 좋아요, 마음에 안 들어요);
   - ``long``: -지 않다 / -지 못하다 (좋지 않아요, 만족스럽지 못했어요);
   - ``byeollo``: 별로 + negation (별로 안 좋아요, 별로 좋지 않아요).

   Negation flips the adjective's polarity, so a negated negative adjective
   (나쁘지 않아요, 별로 안 불편해요) is positive. 별로예요 on its own is a
   negative adjective without negation. Probabilities of the forms:
   none 0.55, short 0.17, long 0.17, byeollo 0.11.
3. With probability 0.25 an earlier clause of the same polarity is added
   (``..., 그리고 ...``); with probability 0.12 an earlier clause of the
   *opposite* polarity is added with 하지만/그런데/근데 (``has_contrast``):
   the label always follows the final clause.
4. Optional neutral openers (두 번째 구매예요, ...), closers that agree with
   the label (재구매 의사 있어요 / 다시는 안 살 것 같아요), and emoticons
   (ㅎㅎ, ^^, ㅠㅠ, ㅡㅡ; 15 % of them on the "wrong" side, e.g. 좋아서 눈물ㅠㅠ).
5. Noise (``noisy``): for 35 % of reviews, colloquial spellings (조아요,
   괜춘해요, 넘, 별로에요, 않아여) and spacing noise (spaces dropped with
   probability 0.35, occasional doubled spaces).

``label`` is 1 (positive) or 0 (negative). Classes are imbalanced: ~60 %
positive. **Label noise**: 3 % of labels are flipped after generation
(annotator mistakes), so no model reaches 100 %. Templates repeat, so some
texts occur more than once (exact duplicates; deduplicate before splitting).

Sizes: ``"small"`` 3,000 reviews, ``"large"`` 20,000. Deterministic:
``numpy.random.default_rng(seed)`` only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DATA_VERSION = "1"

SIZES: dict[str, int] = {"small": 3_000, "large": 20_000}
NEGATION_TYPES: tuple[str, ...] = ("none", "short", "long", "byeollo")
_NEGATION_P = (0.55, 0.17, 0.17, 0.11)
POSITIVE_RATE = 0.6
LABEL_NOISE = 0.03

_NOUNS: dict[str, list[str]] = {
    "전자기기": ["배터리", "화면", "음질", "화질", "성능", "충전 속도", "발열 관리"],
    "의류": ["사이즈", "재질", "색상", "핏", "마감", "착용감"],
    "식품": ["맛", "양", "신선도", "식감", "향"],
    "생활용품": ["내구성", "사용감", "크기", "냄새", "조립"],
}
_SHARED_NOUNS = ["배송", "가격", "포장", "디자인", "품질", "고객센터 응대"]
_CATEGORIES = list(_NOUNS)

# polarity, plain, short negation, long negation, 별로 + negation (None: form not used)
_ADJECTIVES: list[tuple[int, str | None, str | None, str | None, str | None]] = [
    (1, "좋아요", "안 좋아요", "좋지 않아요", "별로 안 좋아요"),
    (1, "좋네요", "안 좋네요", "좋지 않네요", "별로 좋지 않네요"),
    (1, "만족스러워요", "안 만족스러워요", "만족스럽지 못했어요", "별로 만족스럽지 않아요"),
    (1, "괜찮아요", "안 괜찮아요", "괜찮지 않아요", "별로 안 괜찮아요"),
    (1, "마음에 들어요", "마음에 안 들어요", "마음에 들지 않아요", "별로 마음에 안 들어요"),
    (1, "훌륭해요", None, "훌륭하지 않아요", "별로 훌륭하지 않아요"),
    (1, "만족해요", "만족 못 했어요", "만족하지 못했어요", "별로 만족하지 못했어요"),
    (0, "나빠요", "안 나빠요", "나쁘지 않아요", "별로 안 나빠요"),
    (0, "실망스러워요", "안 실망스러워요", "실망스럽지 않아요", "별로 실망스럽지 않아요"),
    (0, "불편해요", "안 불편해요", "불편하지 않아요", "별로 안 불편해요"),
    (0, "아쉬워요", "안 아쉬워요", "아쉽지 않아요", "별로 아쉽지 않아요"),
    (0, "별로예요", None, None, None),
]
_INTENSIFIERS = ["정말", "너무", "진짜", "완전", "아주", "엄청", "꽤", "좀"]
_OPENERS = [
    "두 번째 구매예요.",
    "선물용으로 샀어요.",
    "할인할 때 샀어요.",
    "오늘 받았어요.",
    "후기 남겨요.",
]
_CLOSERS = {
    1: ["재구매 의사 있어요.", "추천합니다!", "또 살게요.", "주변에도 추천했어요."],
    0: ["다시는 안 살 것 같아요.", "추천하지 않아요.", "반품할까 고민 중이에요.", "돈이 아까워요."],
}
_EMOTICONS = {1: ["ㅎㅎ", "^^", "ㅋㅋ", "!!"], 0: ["ㅠㅠ", "ㅡㅡ", "...", "ㅜㅜ"]}
_CONTRAST = ["하지만", "그런데", "근데"]
_TYPOS = [
    ("좋아요", "조아요"),
    ("괜찮아요", "괜춘해요"),
    ("너무", "넘"),
    ("별로예요", "별로에요"),
    ("않아요", "않아여"),
    ("진짜", "찐"),
    ("정말", "정말루"),
]


def _n_rows(size: str) -> int:
    """Return the number of reviews for ``size``; raise ValueError otherwise."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    return SIZES[size]


def _topic(noun: str) -> str:
    """Attach the topic particle 은/는 according to the noun's final consonant."""
    code = ord(noun[-1]) - 0xAC00
    has_coda = 0 <= code < 11172 and code % 28 != 0
    return noun + ("은" if has_coda else "는")


def _clause(rng: np.random.Generator, noun: str, polarity: int, negation: str) -> str:
    """Return one clause about ``noun`` whose meaning has ``polarity`` (1 or 0)."""
    form = NEGATION_TYPES.index(negation)
    adj_polarity = polarity if negation == "none" else 1 - polarity
    candidates = [a for a in _ADJECTIVES if a[0] == adj_polarity and a[1 + form] is not None]
    if form == 0 and adj_polarity == 0:
        candidates = candidates + [_ADJECTIVES[-1]] * 2  # 별로예요 is a frequent negative word
    predicate = str(candidates[rng.integers(len(candidates))][1 + form])
    if negation != "byeollo" and rng.random() < 0.4:
        predicate = f"{_INTENSIFIERS[rng.integers(len(_INTENSIFIERS))]} {predicate}"
    return f"{_topic(noun)} {predicate}"


def _pick(rng: np.random.Generator, items: list[str]) -> str:
    """Return one element of ``items`` drawn uniformly."""
    return items[rng.integers(len(items))]


def _add_noise(rng: np.random.Generator, text: str) -> str:
    """Apply colloquial spellings and spacing noise to ``text``."""
    for right, wrong in _TYPOS:
        if right in text and rng.random() < 0.5:
            text = text.replace(right, wrong)
    chars = []
    for ch in text:
        if ch == " " and rng.random() < 0.35:
            continue
        chars.append(ch)
        if ch == " " and rng.random() < 0.03:
            chars.append(" ")
    return "".join(chars)


def _review(rng: np.random.Generator, category: str, label: int) -> dict[str, object]:
    """Assemble one review whose final clause has polarity ``label``."""
    nouns = _NOUNS[category] + _SHARED_NOUNS
    negation = NEGATION_TYPES[rng.choice(len(NEGATION_TYPES), p=_NEGATION_P)]
    parts: list[str] = []
    if rng.random() < 0.2:
        parts.append(_pick(rng, _OPENERS))
    u = rng.random()
    has_contrast = bool(u < 0.12)
    if has_contrast:
        earlier = _clause(rng, _pick(rng, nouns), 1 - label, "none")
        parts.append(f"{earlier}. {_pick(rng, _CONTRAST)}")
    elif u < 0.37:
        parts.append(_clause(rng, _pick(rng, nouns), label, "none") + ", 그리고")
    final = _clause(rng, _pick(rng, nouns), label, negation)
    if rng.random() < 0.2:
        emo_side = label if rng.random() < 0.85 else 1 - label
        final += _pick(rng, _EMOTICONS[emo_side])
    parts.append(final)
    if rng.random() < 0.3:
        parts.append(_pick(rng, _CLOSERS[label]))
    text = " ".join(parts)
    noisy = bool(rng.random() < 0.35)
    if noisy:
        text = _add_noise(rng, text)
    return {"text": text, "negation": negation, "has_contrast": has_contrast, "noisy": noisy}


def make_reviews(seed: int = 0, size: str = "small") -> pd.DataFrame:
    """Return reviews with columns review_id, category, text, negation,
    has_contrast, noisy and label (1 positive, 0 negative).

    ``negation`` is the negation form of the final clause (one of
    ``NEGATION_TYPES``). Raises ValueError for an unknown ``size``; the same
    ``(seed, size)`` always gives the same frame.
    """
    n = _n_rows(size)
    rng = np.random.default_rng(seed)
    categories = rng.choice(len(_CATEGORIES), size=n, p=[0.3, 0.3, 0.2, 0.2])
    labels = (rng.random(n) < POSITIVE_RATE).astype(np.int64)
    rows = [_review(rng, _CATEGORIES[c], int(y)) for c, y in zip(categories, labels, strict=True)]
    frame = pd.DataFrame(rows)
    flip = rng.random(n) < LABEL_NOISE
    frame.insert(0, "review_id", np.arange(n, dtype=np.int64))
    frame.insert(1, "category", [_CATEGORIES[c] for c in categories])
    frame["label"] = np.where(flip, 1 - labels, labels).astype(np.int64)
    return frame
