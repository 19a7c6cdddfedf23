"""Small value pools filled once by a seeded Faker, then indexed by vectorized draws.

Faker is slow per call but rich; calling it a few thousand times up front and then
picking by index keeps realism without paying Faker per row.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import orjson

# (Faker locale, country name, share of customers)
LOCALES = (
    ("en_US", "United States", 0.40),
    ("en_GB", "United Kingdom", 0.15),
    ("de_DE", "Germany", 0.15),
    ("fr_FR", "France", 0.12),
    ("es_ES", "Spain", 0.08),
    ("it_IT", "Italy", 0.06),
    ("nl_NL", "Netherlands", 0.04),
)
NAMES_PER_LOCALE = 150
CITIES_PER_LOCALE = 30
# The Faker providers the pools draw from (`city()` formats use person names too).
# Faker(locale) alone loads all ~26 providers of each locale, 0.11 s more of every
# simulator run for the same values.
FAKER_PROVIDERS = ("faker.providers.person", "faker.providers.address")
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "web.de")

# category -> (share of catalogue, median price, price spread (lognormal sigma), nouns)
CATEGORIES = {
    "electronics": (0.15, 120.0, 0.9, ("Headphones", "Speaker", "Charger", "Monitor", "Keyboard")),
    "home": (0.20, 35.0, 0.7, ("Lamp", "Pillow", "Vase", "Blanket", "Mug")),
    "clothing": (0.20, 40.0, 0.5, ("T-Shirt", "Jeans", "Jacket", "Sneakers", "Scarf")),
    "grocery": (0.20, 6.0, 0.6, ("Coffee", "Olive Oil", "Pasta", "Chocolate", "Tea")),
    "beauty": (0.10, 18.0, 0.6, ("Shampoo", "Lotion", "Perfume", "Lip Balm", "Soap")),
    "sports": (
        0.10,
        55.0,
        0.8,
        ("Yoga Mat", "Dumbbell", "Water Bottle", "Tennis Racket", "Bike Light"),
    ),
    "toys": (0.05, 25.0, 0.6, ("Puzzle", "Robot", "Doll", "Board Game", "Kite")),
}
ADJECTIVES = (
    "Classic",
    "Eco",
    "Premium",
    "Compact",
    "Deluxe",
    "Smart",
    "Vintage",
    "Ultra",
    "Organic",
    "Urban",
    "Nordic",
    "Essential",
    "Pro",
    "Soft",
    "Bright",
    "Handmade",
)


def _ascii_slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower()) or "x"


def _quoted(values: list[str]) -> np.ndarray:
    # Pools hold values already JSON-encoded, so payload assembly is plain concatenation.
    return np.array([orjson.dumps(v).decode() for v in values], dtype=object)


@dataclass(frozen=True)
class Pools:
    first_names: np.ndarray  # JSON-quoted
    last_names: np.ndarray
    first_slugs: np.ndarray  # ascii, for emails
    last_slugs: np.ndarray
    name_locale: np.ndarray  # locale index of each name slot
    cities: np.ndarray  # JSON-quoted
    city_country: np.ndarray  # JSON-quoted country per city
    city_locale: np.ndarray
    locale_cum_weights: np.ndarray
    raw_first_names: tuple[str, ...]
    raw_cities: tuple[str, ...]


def _stable_city_lists(fake: object) -> None:
    """Sort provider city lists that Faker builds from a set (it_IT does).

    A list made from a set is ordered by string hashes, which change with every
    process (PYTHONHASHSEED), so the same seed would pick different cities per run.
    """
    for provider in fake.get_providers():  # type: ignore[attr-defined]
        cities = vars(provider).get("cities", getattr(type(provider), "cities", None))
        if isinstance(cities, list | tuple) and cities:
            provider.cities = sorted(cities)


@lru_cache(maxsize=4)
def build_pools(seed: int) -> Pools:
    from faker import Faker  # heavy import: only when a batch is generated

    first, last, name_loc, cities, countries, city_loc = [], [], [], [], [], []
    for index, (locale, country, _share) in enumerate(LOCALES):
        fake = Faker(locale, providers=list(FAKER_PROVIDERS))  # a copy: Faker appends to it
        _stable_city_lists(fake)
        fake.seed_instance(seed * 1009 + index)
        first += [fake.first_name() for _ in range(NAMES_PER_LOCALE)]
        last += [fake.last_name() for _ in range(NAMES_PER_LOCALE)]
        name_loc += [index] * NAMES_PER_LOCALE
        seen: list[str] = []
        while len(seen) < CITIES_PER_LOCALE:
            city = fake.city()
            if city not in seen:
                seen.append(city)
            elif len(seen) > 5 and fake.random.random() < 0.05:
                break  # small locales have few cities; accept fewer
        cities += seen
        countries += [country] * len(seen)
        city_loc += [index] * len(seen)
    shares = np.array([share for _, _, share in LOCALES])
    return Pools(
        first_names=_quoted(first),
        last_names=_quoted(last),
        first_slugs=np.array([_ascii_slug(n) for n in first], dtype=object),
        last_slugs=np.array([_ascii_slug(n) for n in last], dtype=object),
        name_locale=np.array(name_loc),
        cities=_quoted(cities),
        city_country=_quoted(countries),
        city_locale=np.array(city_loc),
        locale_cum_weights=np.cumsum(shares / shares.sum()),
        raw_first_names=tuple(first),
        raw_cities=tuple(cities),
    )
