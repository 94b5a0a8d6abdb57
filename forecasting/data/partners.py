"""Map trade-partner names and codes (Chinese customs names, ISO-3) to ISO-2 destination ids."""

from __future__ import annotations

import functools
import gettext
import unicodedata

import pycountry

from forecasting.schema import OTHER, WORLD

# China customs short names that pycountry's zh_CN translations spell differently or lack.
CUSTOMS_NAMES: dict[str, str] = {
    "韩国": "KR", "美国": "US", "英国": "GB", "俄罗斯联邦": "RU", "俄罗斯": "RU", "越南": "VN",
    "中国香港": "HK", "香港": "HK", "中国澳门": "MO", "澳门": "MO", "中国台湾": "TW",
    "台湾": "TW", "台澎金马关税区": "TW", "捷克": "CZ", "捷克共和国": "CZ", "阿联酋": "AE",
    "阿拉伯联合酋长国": "AE", "柬埔寨": "KH", "老挝": "LA", "朝鲜": "KP", "伊朗": "IR",
    "叙利亚": "SY", "孟加拉国": "BD", "玻利维亚": "BO", "委内瑞拉": "VE", "摩尔多瓦": "MD",
    "马耳他": "MT", "危地马拉": "GT", "吉尔吉斯斯坦": "KG", "刚果(金)": "CD", "刚果(布)": "CG",
    "马其顿": "MK", "埃斯瓦蒂尼": "SZ", "波黑": "BA", "坦桑尼亚": "TZ", "中国": "CN",
}

DESTINATION_IDS: frozenset[str] = frozenset(
    {c.alpha_2 for c in pycountry.countries} | {WORLD, OTHER})


def _normalise(name: str) -> str:
    """Fold full-width characters (（）) to ASCII and drop all whitespace."""
    return "".join(unicodedata.normalize("NFKC", name).split())


@functools.cache
def _chinese_names() -> dict[str, str]:
    """Chinese country name -> ISO-2: pycountry's zh_CN gettext names plus CUSTOMS_NAMES."""
    zh = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"])
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            english = getattr(country, attr, None)
            if english:
                names.setdefault(_normalise(zh.gettext(english)), country.alpha_2)
    names.update({_normalise(k): v for k, v in CUSTOMS_NAMES.items()})
    return names


def partner_to_iso2(name: str) -> str | None:
    """ISO-2 code of a China customs partner name such as 德国 or 韩国; None when unknown."""
    return _chinese_names().get(_normalise(name))


def iso3_to_iso2(code: str) -> str | None:
    """ISO-2 code of an ISO 3166-1 alpha-3 code such as DEU; None when unknown."""
    country = pycountry.countries.get(alpha_3=code.strip().upper())
    return country.alpha_2 if country else None
