"""The words the contradiction rule knows: stop words, claim words, synonyms, numbers, units."""

from __future__ import annotations

APOSTROPHE = "\u2019"  # a typographic apostrophe, read as '


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


NEGATIONS = frozenset(
    {"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot"}
)
STOPWORDS = _words(
    """a an the of to for in on at by with from and or as than that this these those it its
    their they them we our us you your he she his her him i me my is are was were be been being
    am do does did doing done has have had having will would shall should can could may might
    must also just only still very more most much many some any all each every both few less
    least into onto over under about around across after before during within per via so if
    then when while which who whom whose what where how there here out up down off again
    further once same other such own too among every s t"""
)
# Verbs and adverbs that carry no subject of their own: "got a 14.6% reply rate" and "had a
# reply rate of 14.6%" say the same; "now", "currently", "roughly" do not change the subject.
NEUTRAL = _words(
    """get gets got getting gotten see sees saw seen seeing hit hits hitting reach reaches
    reached reaching achieve achieves achieved show shows showed shown showing come comes came
    coming send sends sent sending make makes made making take takes took taken give gives gave
    given keep keeps kept report reports reported measure measures measured record recorded
    currently now today recently lately typically usually generally normally often about
    around roughly approximately nearly almost close to overall total average avg median mean
    typical currently actually really already yet like likely well good new latest last week
    month year per cent percent pct rate rates number numbers figure figures value amount
    level levels something one ones way"""
)
# Verbs (and a few attribute words) that state a claim rather than name its subject: "Mei set 8
# meetings" and "Mei booked 8 meetings" are about the same person; the subject is in the nouns.
CLAIM_WORDS = _words(
    """book set schedule hold held let allow permit enable pay spend spent lose lost churn open
    click pick answer connect convert close win sign buy renew expect want need require prefer
    like accept use run respond reply work perform help lift rise rose grow grew drop fall fell
    cut increase decrease improve went go escalate resolve measure offer ask request say tell
    mention confirm agree approve average price date due best worst put place stay put move
    landed land generate drive drove bring brought tend find found"""
)
# Domain synonyms folded before stemming, so a reworded subject is still the same subject.
SYNONYMS = {
    "client": "customer",
    "clients": "customer",
    "customers": "customer",
    "pricing": "price",
    "cost": "price",
    "costs": "price",
    "priced": "price",
    "seller": "rep",
    "sellers": "rep",
    "reps": "rep",
    "ae": "rep",
    "aes": "rep",
    "e-mail": "email",
    "e-mails": "email",
    "emails": "email",
    "mail": "email",
    "signed": "close",
    "sign": "close",
    "signs": "close",
    "closed": "close",
    "closes": "close",
    "won": "close",
    "win": "close",
    "wins": "close",
    "replied": "reply",
    "replies": "reply",
    "responded": "reply",
    "respond": "reply",
    "response": "reply",
    "responses": "reply",
    "answered": "reply",
    "purchase": "buy",
    "purchased": "buy",
    "bought": "buy",
    "licenses": "seat",
    "license": "seat",
    "licences": "seat",
    "licence": "seat",
    "seats": "seat",
    "users": "seat",
    "user": "seat",
    "prospects": "prospect",
    "leads": "lead",
    "renews": "renew",
    "renewal": "renew",
    "renewed": "renew",
    "renewing": "renew",
    "uses": "use",
    "using": "use",
    "used": "use",
    "runs": "use",
    "run": "use",
    "paying": "pay",
    "pays": "pay",
    "paid": "pay",
    "expects": "expect",
    "expected": "expect",
    "want": "expect",
    "wants": "expect",
    "discounted": "discount",
}
MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = {
    name: number
    for number, names in enumerate(
        [
            ("monday", "mondays"),
            ("tuesday", "tuesdays"),
            ("wednesday", "wednesdays"),
            ("thursday", "thursdays"),
            ("friday", "fridays"),
            ("saturday", "saturdays"),
            ("sunday", "sundays"),
        ]
    )
    for name in names
}
WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NUMBER_WORDS = {
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "ninety": 90,
    "hundred": 100,
}
DAYS_PER = {
    "minute": 1 / 1440,
    "min": 1 / 1440,
    "hour": 1 / 24,
    "hr": 1 / 24,
    "day": 1.0,
    "week": 7.0,
    "wk": 7.0,
    "month": 30.0,
    "mo": 30.0,
    "quarter": 91.0,
    "year": 365.0,
    "yr": 365.0,
}
MULTIPLIERS = {
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mm": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
}
CURRENCIES = {
    "$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
}
# A number right after one of these is a label, not a claim: "Tier 2 accounts", "stage 3".
LABELS = _words(
    """tier level stage phase step version v plan region zone round wave cohort group series
    gen generation chapter section room suite unit building floor gate route highway lane
    channel studio terminal pod squad batch lot track sprint week"""
)
# A quantity after one of these scopes the claim ("answered within 2 hours", "deals over
# $50k", "companies with 500 employees") rather than stating it.
CONDITIONS = _words("within under over above below after before than least most with between from")
