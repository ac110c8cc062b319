"""The officials (cán bộ thụ lý) of each simulated agency, named in the events they act on (pure).

The ingest API keeps, per dossier, the latest official named while it was open: the monthly list
of late officials (brief R3; Bình Dương's Directive 05 disciplines those "frequently late") reads
it. So lateness is not spread evenly: a fifth of the officials are twice as often late as their
province's average and the rest a quarter less often (0.2 × 2.0 + 0.8 × 0.75 = 1.0, so the
province's late share is kept), and the same names come back on the list month after month.

Names are drawn from the common Vietnamese family names with rough population weights (general
knowledge, approximate: Nguyễn about 38 %, Trần 11 %, Lê 9.5 %, Phạm 7 %, …), a middle name and a
given name by sex. A roster depends only on the seed and the agency code, never on the order in
which agencies are first met.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FAMILY_NAMES: tuple[tuple[str, float], ...] = (
    ("Nguyễn", 38.0), ("Trần", 11.0), ("Lê", 9.5), ("Phạm", 7.0), ("Hoàng", 3.0), ("Huỳnh", 2.1),
    ("Phan", 4.5), ("Vũ", 2.0), ("Võ", 1.9), ("Đặng", 2.1), ("Bùi", 2.0), ("Đỗ", 1.4), ("Hồ", 1.3),
    ("Ngô", 1.3), ("Dương", 1.0), ("Lý", 0.5),
)  # fmt: skip
MIDDLE_NAMES = {"m": ("Văn", "Hữu", "Đức", "Minh", "Quang", "Thanh", "Công"),
                "f": ("Thị", "Ngọc", "Thu", "Thanh", "Minh", "Phương", "Kim")}  # fmt: skip
GIVEN_NAMES = {
    "m": ("An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khánh", "Long", "Nam", "Phúc", "Quân", "Sơn",
          "Thắng", "Trung", "Tuấn", "Việt"),
    "f": ("Anh", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh", "Mai", "Nga", "Ngọc", "Phương", "Thảo",
          "Trang", "Tuyết", "Vân", "Yến"),
}  # fmt: skip
OFTEN_LATE_SHARE = 0.2
OFTEN_LATE_FACTOR = 2.0
USUALLY_ON_TIME_FACTOR = (1 - OFTEN_LATE_SHARE * OFTEN_LATE_FACTOR) / (1 - OFTEN_LATE_SHARE)  # 0.75


@dataclass(frozen=True, slots=True)
class Official:
    code: str  # e.g. "CB-UBND-00097-003"
    name: str  # e.g. "Nguyễn Thị Lan"
    late_factor: float  # × the province's late share

    def as_handler(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name}


class OfficialRoster:
    """Officials per agency code, made on first use and kept (a few thousand agencies at most)."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rosters: dict[str, tuple[Official, ...]] = {}
        self._family = [name for name, _ in FAMILY_NAMES]
        self._family_weights = [weight for _, weight in FAMILY_NAMES]

    def of(self, agency_code: str, size: int) -> tuple[Official, ...]:
        roster = self._rosters.get(agency_code)
        if roster is None:
            rng = random.Random(f"officials-{self._seed}-{agency_code}")
            roster = tuple(self._official(rng, agency_code, number) for number in range(1, size + 1))
            self._rosters[agency_code] = roster
        return roster

    def known(self) -> dict[str, Official]:
        """Every official made so far, by code."""
        return {official.code: official for roster in self._rosters.values() for official in roster}

    def _official(self, rng: random.Random, agency_code: str, number: int) -> Official:
        sex = "f" if rng.random() < 0.55 else "m"  # an assumption, not a figure from the brief
        family = rng.choices(self._family, self._family_weights)[0]
        name = f"{family} {rng.choice(MIDDLE_NAMES[sex])} {rng.choice(GIVEN_NAMES[sex])}"
        factor = OFTEN_LATE_FACTOR if rng.random() < OFTEN_LATE_SHARE else USUALLY_ON_TIME_FACTOR
        return Official(f"CB-{agency_code}-{number:03d}", name, factor)
