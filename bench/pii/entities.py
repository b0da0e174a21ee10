"""Generators of realistic PII values (gold) and of look-alikes that are not PII (decoys).

Formats follow how people write these values in CRM notes, e-mail signatures and tool-call
logs, not how the detectors parse them. Valid values are built from the real rules (numbering
plans, Luhn, ISO 13616, SSA and HMRC allocation); decoys break exactly one rule.
"""

from __future__ import annotations

import random
import string

FIRST = [
    "Dana",
    "Luis",
    "Priya",
    "Tom",
    "Anke",
    "Chloé",
    "Marcus",
    "Yuki",
    "Fatima",
    "Oliver",
    "Sofia",
    "Jean-Luc",
    "Grace",
]
FIRST += ["Ahmed", "Hannah", "Mateo", "Ingrid", "Kwame", "Elena", "Jürgen", "Zoë"]
LAST = [
    "Smith",
    "García",
    "Patel",
    "O'Neill",
    "Müller",
    "Dubois",
    "Okafor",
    "Tanaka",
    "Berg",
    "Nguyen",
    "Rossi",
]
LAST += ["Kowalski", "Johnson", "Schmidt", "Martin", "Haddad", "Evans"]
COMPANY = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Soylent",
    "Tyrell",
]
COMPANY += ["Cyberdyne", "Wonka", "Gringotts", "Oscorp"]
DOMAIN_TLD = ["com", "io", "co.uk", "de", "fr", "net", "org", "com.au"]
FREEMAIL = [
    "gmail.com",
    "outlook.com",
    "yahoo.co.uk",
    "web.de",
    "orange.fr",
    "icloud.com",
    "gmx.net",
]
STREET = [
    "Main",
    "Oak",
    "Maple",
    "Market",
    "Mission",
    "Elm",
    "Cedar",
    "Lake",
    "Hill",
    "Park",
    "Washington",
    "Sunset",
]
STREET += ["Pine", "River", "Highland", "Broad", "Spring Garden", "Fifth", "Martin Luther King"]
SUFFIX = [
    "Street",
    "St",
    "Avenue",
    "Ave",
    "Road",
    "Rd",
    "Boulevard",
    "Blvd",
    "Lane",
    "Drive",
    "Dr",
    "Court",
    "Way",
    "Place",
]
SUFFIX += ["Parkway", "Street", "Avenue"]
CITY_STATE = [
    ("Springfield", "IL", "627"),
    ("Austin", "TX", "787"),
    ("Boston", "MA", "021"),
    ("San Francisco", "CA", "941"),
    ("Portland", "OR", "972"),
    ("Denver", "CO", "802"),
    ("Washington", "DC", "200"),
]
US_AREA = ["212", "415", "646", "312", "617", "206", "512", "303", "404", "702", "213", "718"]
DE_AREA = ["30", "89", "40", "69", "221", "711"]
DE_MOBILE = ["151", "160", "170", "171", "176", "157"]
NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"  # O may open a prefix but not close it


def digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


def _ascii(name: str) -> str:
    table = str.maketrans({"é": "e", "ü": "u", "í": "i", "ë": "e", "'": ""})
    return name.lower().translate(table)


def email(rng: random.Random) -> str:
    first, last = _ascii(rng.choice(FIRST)), _ascii(rng.choice(LAST))
    company = rng.choice(COMPANY).lower()
    local = rng.choice(
        [
            f"{first}.{last}",
            f"{first[0]}{last}",
            f"{first}_{last}{rng.randint(1, 99)}",
            f"{first}+crm",
            "sales",
            "billing-team",
            f"{first}.{last}",
            f"{last}.{first}",
        ]
    )
    host = rng.choice(
        [
            f"{company}.{rng.choice(DOMAIN_TLD)}",
            rng.choice(FREEMAIL),
            f"eu.{company}.com",
            f"mail.{company}-group.de",
        ]
    )
    value = f"{local}@{host}"
    return value.upper() if rng.random() < 0.05 else value


def phone(rng: random.Random) -> str:
    return rng.choice([phone_us, phone_us, phone_uk, phone_de, phone_fr])(rng)


def phone_us(rng: random.Random) -> str:
    area = rng.choice([*US_AREA, "800", "888"])
    exchange = rng.choice(["555", str(rng.randint(201, 989))])
    line = f"01{digits(rng, 2)}" if exchange == "555" else digits(rng, 4)
    return rng.choice(
        [
            f"+1 {area}-{exchange}-{line}",
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"+1 ({area}) {exchange}-{line}",
            f"+1{area}{exchange}{line}",
            f"1-{area}-{exchange}-{line}",
            f"{area} {exchange} {line}",
            f"+1-{area}-{exchange}-{line}",
            f"+1 {area} {exchange} {line}",
        ]
    )


def phone_uk(rng: random.Random) -> str:
    number = rng.choice(
        [
            f"20 7946 0{digits(rng, 3)}",
            f"161 496 0{digits(rng, 3)}",
            f"7{rng.choice('4589')}{digits(rng, 2)} {digits(rng, 6)}",
            f"7{rng.choice('4589')}{digits(rng, 2)} {digits(rng, 3)} {digits(rng, 3)}",
            f"800 {rng.randint(100, 999)} {digits(rng, 4)}",
        ]
    )
    return rng.choice(
        [
            f"0{number}",
            f"+44 {number}",
            f"+44 (0){number}",
            f"0{number}",
            f"0044 {number}",
            f"+44 (0) {number}",
        ]
    )


def phone_de(rng: random.Random) -> str:
    formats = [
        "+49 {p} {r}",
        "+49 ({p}) {r}",
        "0{p} {r}",
        "+49 (0){p} {r}",
        "0{p}/{r}",
        "+49-{p}-{r}",
        "0049 {p} {r}",
        "+49 (0) {p} {r}",
    ]
    if rng.random() < 0.4:
        prefix, rest = rng.choice(DE_MOBILE), digits(rng, 8)
    else:  # landlines may carry a DIN 5008 direct-dial extension; mobiles never do
        prefix, rest = rng.choice(DE_AREA), str(rng.randint(2, 9)) + digits(rng, 6)
        formats += [f"0{{p}} {rest[:-2]}-{rest[-2:]}", f"0{{p}} {{r}}-{rng.randint(0, 99)}"]
    if rng.random() < 0.2:
        prefix, rest = "30", "901820"
    return rng.choice(formats).format(p=prefix, r=rest)


def phone_fr(rng: random.Random) -> str:
    """Metropolitan geographic 01-05 numbers and mobiles 06 / 07 5-8 (ARCEP plan); 02 6x,
    05 9x and 06 9x belong to overseas departments with their own country codes."""
    lead = rng.choice("12345667")
    if lead == "7":
        second = str(rng.randint(5, 8))
    else:
        second = rng.choice("2345789" if lead in "12" else "2345678")
    third = rng.choice("012345678") if lead + second == "63" else digits(rng, 1)  # 06 39: Mayotte
    pairs = " ".join([second + third] + [digits(rng, 2) for _ in range(3)])
    return rng.choice(
        [
            f"0{lead} {pairs}",
            f"+33 {lead} {pairs}",
            f"+33 (0){lead} {pairs}",
            f"0{lead}.{pairs.replace(' ', '.')}",
            f"0{lead} {pairs}",
            f"0{lead}{pairs.replace(' ', '')}",
        ]
    )


def _luhn_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char)
        if index % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


def _card_digits(rng: random.Random, valid: bool) -> str:
    prefix, length = rng.choice(
        [
            ("4", 16),
            ("51", 16),
            ("55", 16),
            ("2221", 16),
            ("37", 15),
            ("34", 15),
            ("6011", 16),
            (f"35{rng.randint(28, 89)}", 16),
            ("4", 16),
            ("65", 16),
        ]
    )
    body = prefix + digits(rng, length - len(prefix) - 1)
    check = _luhn_digit(body)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    return body + check


def _group_card(number: str, sep: str) -> str:
    if len(number) == 15:
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


def card(rng: random.Random, valid: bool = True) -> str:
    number = _card_digits(rng, valid)
    return rng.choice(
        [_group_card(number, " "), _group_card(number, "-"), number, _group_card(number, " ")]
    )


def _iban_check(country: str, bban: str) -> str:
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{98 - int(numeric) % 97:02d}"


def _bban(rng: random.Random, country: str) -> str:
    letters = string.ascii_uppercase
    return {
        "DE": lambda: digits(rng, 18),
        "GB": lambda: "".join(rng.choice(letters) for _ in range(4)) + digits(rng, 14),
        "FR": lambda: digits(rng, 10) + digits(rng, 11) + digits(rng, 2),
        "NL": lambda: "".join(rng.choice("ABINRS") for _ in range(4)) + digits(rng, 10),
        "ES": lambda: digits(rng, 20),
        "IT": lambda: rng.choice(letters) + digits(rng, 10) + digits(rng, 12),
        "CH": lambda: digits(rng, 17),
        "BE": lambda: digits(rng, 12),
        "AT": lambda: digits(rng, 16),
        "PL": lambda: digits(rng, 24),
    }[country]()


def iban(rng: random.Random, valid: bool = True) -> str:
    country = rng.choice(
        ["DE", "GB", "FR", "DE", "GB", "FR", "NL", "ES", "IT", "CH", "BE", "AT", "PL"]
    )
    bban = _bban(rng, country)
    check = _iban_check(country, bban)
    if not valid:
        check = f"{(int(check) + rng.randint(1, 90)) % 100:02d}"
    compact = country + check + bban
    spaced = " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return rng.choice([compact, spaced, spaced])


def ipv4(rng: random.Random) -> str:
    octets = f"{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
    return rng.choice(
        [
            f"203.0.113.{rng.randint(1, 254)}",
            f"198.51.100.{rng.randint(1, 254)}",
            f"10.{octets}",
            f"192.168.{rng.randint(0, 20)}.{rng.randint(2, 254)}",
            f"{rng.randint(11, 223)}.{octets}",
        ]
    )


def ipv6(rng: random.Random) -> str:
    g = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(6)]
    return rng.choice(
        [
            f"2001:db8:{g[0]}::{g[1]}:{g[2]}",
            f"2001:0db8:{':'.join(x.zfill(4) for x in g)}",
            f"fe80::{g[0]}:{g[1]}:{g[2]}:{g[3]}",
            f"2a02:{g[0]}:{g[1]}::{g[2]}",
            f"2001:db8::{g[0]}",
            f"::ffff:192.0.2.{rng.randint(1, 254)}",
        ]
    )


def ssn(rng: random.Random) -> str:
    area = rng.choice([rng.randint(1, 665), rng.randint(667, 899)])
    group, serial = rng.randint(1, 99), rng.randint(1, 9999)
    sep = rng.choice(["-", "-", "-", " "])
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


def ssn_bare(rng: random.Random) -> str:
    """Nine digits with no separators: only written this way after a label ("SSN")."""
    return ssn(rng).replace("-", "").replace(" ", "")


def nino(rng: random.Random) -> str:
    prefix = rng.choice(NINO_FIRST) + rng.choice(NINO_SECOND)
    while prefix in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}:
        prefix = rng.choice(NINO_FIRST) + rng.choice(NINO_SECOND)
    body, suffix = digits(rng, 6), rng.choice("ABCD")
    if rng.random() < 0.5:
        return f"{prefix} {body[:2]} {body[2:4]} {body[4:]} {suffix}"
    return f"{prefix}{body}{suffix}"


def address(rng: random.Random) -> str:
    street = (
        f"{rng.randint(1, 9999)} {rng.choice(['', '', 'W ', 'N ', 'E. '])}{rng.choice(STREET)} "
    )
    street += rng.choice(SUFFIX) + rng.choice(["", "", "", " NW"])
    if rng.random() < 0.3:
        street += rng.choice(
            [
                f", Suite {rng.randint(100, 999)}",
                f", Apt {rng.randint(1, 40)}B",
                f" #{rng.randint(2, 30)}",
            ]
        )
    if rng.random() < 0.6:
        city, state, zip3 = rng.choice(CITY_STATE)
        street += f", {city}, {state} {zip3}{digits(rng, 2)}"
    return street
