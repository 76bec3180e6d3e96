"""Pinyin of Chinese names, for search and matching.

A name's first character is read as a surname: several common surnames are read differently from
the same character in ordinary text (覃 qín, not tán; 单 shàn; 曾 zēng; 区 ōu …), and a clerk who
types ``qin`` must find 覃. Compound surnames (欧阳, 司马 …) are read as one unit by pypinyin already;
the two-character ones with their own reading (尉迟 yùchí, 万俟 mòqí …) are listed here.
"""

import functools

from pypinyin import lazy_pinyin

#: Surname readings that differ from the character's most common reading.
SURNAME_READINGS = {
    "尉迟": ["yu", "chi"],
    "万俟": ["mo", "qi"],
    "长孙": ["zhang", "sun"],
    "单于": ["chan", "yu"],
    "覃": ["qin"],
    "单": ["shan"],
    "仇": ["qiu"],
    "区": ["ou"],
    "解": ["xie"],
    "曾": ["zeng"],
    "查": ["zha"],
    "朴": ["piao"],
    "盖": ["ge"],
    "缪": ["miao"],
    "翟": ["zhai"],
    "乐": ["yue"],
    "召": ["shao"],
    "繁": ["po"],
    "员": ["yun"],
    "黑": ["he"],
    "秘": ["bi"],
    "种": ["chong"],
    "那": ["na"],
    "过": ["guo"],
    "折": ["she"],
    "蕃": ["pi"],
    "能": ["nai"],
    "牟": ["mou"],
    "祭": ["zhai"],
    "句": ["gou"],
    "隗": ["wei"],
    "郇": ["xun"],
    "阚": ["kan"],
    "柏": ["bai"],
    "薄": ["bo"],
    "贲": ["ben"],
    "藏": ["zang"],
    "莘": ["shen"],
    "乜": ["nie"],
    "粘": ["nian"],
    "令狐": ["ling", "hu"],
    "重": ["chong"],
    "宿": ["su"],
    "厍": ["she"],
    "尉": ["wei"],
}


def _syllables(name: str) -> list[str]:
    name = (name or "").strip()
    for length in (2, 1):
        surname = name[:length]
        if len(surname) == length and surname in SURNAME_READINGS:
            return SURNAME_READINGS[surname] + lazy_pinyin(name[length:])
    return lazy_pinyin(name)


@functools.lru_cache(maxsize=65536)
def to_pinyin(name: str) -> str:
    """``"张三"`` → ``"zhang san"``, ``"覃海"`` → ``"qin hai"``; Latin letters pass through lower-cased."""
    return " ".join(part.strip().lower() for part in _syllables(name) if part.strip())


def compact(pinyin: str) -> str:
    return "".join(pinyin.split()).lower()


def initials(pinyin: str) -> str:
    """``"liang feng jun"`` → ``"lfj"`` (the search key for initials)."""
    return "".join(part[0] for part in pinyin.lower().split() if part and part[0].isalpha())
