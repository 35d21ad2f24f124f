"""What a reviewer must check in written text: contact points, figures and commercial terms, each with
where it came from in what the writer was given.

`scan` finds them; `review` says which of them the writer's sources account for and which are
problems. The touchpoint agent checks a model's draft with it before keeping it, the review queue shows
its highlights on every draft, and the assessment agent checks a model's words with it, so a link or a
figure is found the same way wherever it is written.

Text is read the way a person would read it: NFKC-normalised, invisible characters dropped, look-alike
letters (Cyrillic "а" for "a") read as the letters they imitate, addresses joined across line breaks,
and spelled-out forms ("sam dot jones at example dot com") read as what they spell. A contact point
written with look-alike letters is always a problem, whatever it imitates.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Kind = Literal["email", "link", "phone", "bank_account", "markup", "figure", "commitment"]
KIND_LABELS: dict[str, str] = {
    "email": "email address", "link": "link", "phone": "phone number", "bank_account": "bank account number",
    "markup": "markup", "figure": "figure", "commitment": "commercial term",
}

# Characters that change nothing a reader sees.
_INVISIBLE = frozenset("\u00ad\u200b\u200c\u200d\u2060\ufeff\u180e")
# Letters that look like ASCII letters, read as those letters (Cyrillic and Greek, the usual disguises).
_LOOKALIKES = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ο": "o", "α": "a", "ν": "v", "ρ": "p",
    "ι": "i", "κ": "k", "τ": "t", "υ": "u", "ε": "e", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M",
    "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X", "Ι": "I", "Ο": "O", "Α": "A", "Β": "B",
    "Ε": "E", "Κ": "K", "Μ": "M", "Ν": "N", "Ρ": "P", "Τ": "T", "Χ": "X", "Υ": "Y", "Ζ": "Z",
})

_HOST = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}"
_EMAIL = re.compile(r"[a-z0-9._%+-]+@" + _HOST, re.IGNORECASE)
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()\[\]\"']+|\bwww\.[^\s<>()\[\]\"']+|\bmailto:[^\s<>()\[\]\"']+",
                  re.IGNORECASE)
_BARE_DOMAIN = re.compile(r"(?<![@\w.-])" + _HOST + r"(?:/[^\s<>()\[\]\"']*)?(?![\w@-])", re.IGNORECASE)
_SPELLED_DOT = r"(?:\s*[\[(<{]\s*(?:dot|\.)\s*[\])>}]\s*|\s+dot\s+|\.)"
_SPELLED_AT = r"(?:\s*[\[(<{]\s*(?:at|@)\s*[\])>}]\s*|\s+at\s+|\s+@\s*|\s*@\s+)"
_LABEL = r"[a-z0-9_+-]+"
# The host may not be followed by another "at": in "Sam Jones at sam dot jones at example dot com" the
# address is the second half, not "jones@sam.jones".
_SPELLED_EMAIL = re.compile(rf"\b{_LABEL}(?:{_SPELLED_DOT}{_LABEL})*{_SPELLED_AT}{_LABEL}(?:{_SPELLED_DOT}{_LABEL})+\b"
                            rf"(?!{_SPELLED_AT})", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w+.,])\+?\(?\d{1,4}\)?(?:[\s.-]{1,2}\(?\d{1,4}\)?){2,6}(?![\w.,]\d)")
_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_HTML = re.compile(r"<\s*/?\s*[a-z][a-z0-9]*(?:\s[^<>]*)?/?\s*>", re.IGNORECASE)
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]{1,200})\]\(\s*([^)\s]+)\s*\)")
_DIGITS = re.compile(r"\d[\d,]*(?:\.\d+)?")

_UNITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORD = "|".join(sorted([*_UNITS, *_TENS, *_SCALES, "dozen"], key=len, reverse=True))
_WORDS_NUMBER = re.compile(rf"\b(?:{_NUMBER_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_NUMBER_WORD}))*\b", re.IGNORECASE)
_PERIOD = r"(?:days?|weeks?|months?|quarters?|years?|seats?|licen[cs]es?|users?|percent|per\s*cent)"
# "one" is a figure only when it counts something ("one year"), "a" and "an" only in an offer ("a free
# month"); otherwise they are ordinary English ("no one", "a year ago").
_ONE_COUNTS = re.compile(rf"\bone\s+(?:(?:free|extra|additional|full|whole)\s+)?{_PERIOD}\b"
                         rf"|\ban?\s+(?:free|extra|additional)\s+{_PERIOD}\b", re.IGNORECASE)
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")

# Commercial terms a message may not offer on its own, by kind. A CSM's instruction that names a kind
# allows it, and the reviewer is shown where it is.
COMMITMENTS: dict[str, re.Pattern[str]] = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in {
    "discount": r"\bdiscount\w*|\b\d+(?:\.\d+)?\s*(?:%|percent|per\s*cent)\s+off\b|\b(?:percent|per\s*cent)\s+off\b"
                r"|\b\w+\s+(?:percent|per\s*cent)\s+off\b|\brebate\w*|\bcoupon\w*|\bpromo(?:tional)?\s+code"
                r"|\bspecial\s+(?:offer|deal|price|pricing|rate)\b|\b(?:price|cost)\s+(?:cut|reduction|break)\b"
                r"|\boff\s+(?:your|the|their)\s+(?:renewal|price|invoice|bill|subscription|contract)\b|\bcheaper\b",
    "refund": r"\brefund\w*|\breimburs\w*|\bmoney\s+back\b|\bservice\s+credits?\b|\bcredit\s+note\b"
              r"|\bcredit\s+(?:to|on)\s+your\s+account\b|\bcompensat\w*",
    "free period": r"\bfree\s+(?:year|month|quarter|week|period|upgrade|seats?|licen[cs]es?|of\s+charge)\b"
                   r"|\b(?:years?|months?|quarters?|weeks?)\s+(?:for\s+)?free\b|\bat\s+no\s+(?:extra\s+|additional\s+)?"
                   r"(?:cost|charge)\b|\bcomplimentary\b|\bwaive\w*|\bon\s+the\s+house\b|\bfree\s+extension\b",
    "price": r"\bprice\s+(?:freeze|lock|guarantee|match|increase|rise)\w*|\block\s+in\s+(?:your|the|a|this)\s+"
             r"(?:price|rate)\b|\bwe\s+(?:will|can|'ll)\s+(?:charge|bill|invoice)\b|\bno\s+price\s+increase"
             r"|\b(?:new|lower|reduced|better)\s+(?:price|pricing|rate)\b",
    "contract change": r"\b(?:extend|extension\s+of|amend\w*|cancel|terminate|downgrade|upgrade)\s+(?:your\s+|the\s+)?"
                       r"(?:contract|subscription|agreement|term|plan|licen[cs]e)\b|\bcontract\s+(?:change|amendment"
                       r"|extension)\b|\bexit\s+clause\b|\bwaive\s+(?:the\s+)?notice\b|\bmulti-year\s+deal\b",
    "payment instruction": r"\bpay\s+(?:at|via|by|here|now|online|through|to)\b|\bwire\b|\bbank\s+transfer\b|\biban\b"
                           r"|\bswift\b|\bsort\s+code\b|\brouting\s+number\b|\baccount\s+number\b"
                           r"|\bpayment\s+(?:link|details|instructions?|portal)\b|\bsend\s+(?:the\s+|your\s+)?payment"
                           r"|\bupdate\s+(?:your\s+)?(?:billing|payment|card)\s+(?:details|information|info)\b"
                           r"|\bcard\s+details\b",
}.items()}


@dataclass(frozen=True)
class Finding:
    """Something a reviewer must check, as written, at [start, end) of the text it was found in."""

    kind: str
    text: str
    value: str  # what it is matched on: an address or host, a number, a commitment's kind
    start: int
    end: int
    lookalike: bool = False


@dataclass(frozen=True)
class Highlight:
    """A finding placed: which text it is in and what in the writer's sources accounts for it (None: nothing)."""

    kind: str
    text: str
    where: str
    start: int
    end: int
    source: str | None
    problem: str | None

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "text": self.text, "where": self.where, "start": self.start, "end": self.end,
                "source": self.source, "problem": self.problem}


@dataclass(frozen=True)
class Review:
    highlights: list[Highlight]

    @property
    def problems(self) -> list[str]:
        """Every problem once; the phrases offering one kind of commercial term in one text, together."""
        problems: list[str] = []
        terms: dict[tuple[str, str], list[str]] = {}
        for highlight in self.highlights:
            if highlight.problem is None:
                continue
            if highlight.kind == "commitment":
                phrases = terms.setdefault((highlight.where, highlight.problem.split("(", 1)[1].split(")")[0]), [])
                if not phrases:
                    problems.append(highlight.where + "\0" + highlight.problem)
                phrases.append(_quote(highlight.text))
            elif highlight.problem not in problems:
                problems.append(highlight.problem)
        return [_term_problem(p, terms) if "\0" in p else p for p in problems]


class _Reading:
    """A text as a reader sees it, with the way back to the written characters."""

    def __init__(self, written: str) -> None:
        chars: list[str] = []
        origin: list[int] = []
        self.foreign: set[int] = set()
        for index, char in enumerate(written):
            if char in _INVISIBLE:
                continue
            for part in unicodedata.normalize("NFKC", char):
                read = part.translate(_LOOKALIKES)
                if read != part or (not part.isascii() and part.isalnum()):
                    self.foreign.add(len(chars))
                chars.append(read)
                origin.append(index)
        self.text = "".join(chars)
        self.written = written
        self._origin = origin

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The written span behind [start, end) of the reading."""
        if not self._origin:
            return 0, 0
        return self._origin[start], self._origin[max(start, end - 1)] + 1

    def has_foreign(self, start: int, end: int) -> bool:
        return any(start <= index < end for index in self.foreign)


def scan(written: str) -> list[Finding]:
    """Every contact point, piece of markup, figure and commercial term in a text, in order."""
    reading = _Reading(written)
    text = reading.text
    found: list[Finding] = []
    # A contact point is found once, as its widest reading; figures inside one are part of it. Commercial
    # terms overlap anything: "40% off" is both a discount and the figure 40.
    points: list[tuple[int, int]] = []
    figures: list[tuple[int, int]] = []

    def add(kind: str, start: int, end: int, value: str) -> None:
        if kind != "commitment":
            taken = figures + points if kind == "figure" else points
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                return
            (figures if kind == "figure" else points).append((start, end))
        w_start, w_end = reading.span(start, end)
        found.append(Finding(kind=kind, text=written[w_start:w_end], value=value, start=w_start, end=w_end,
                             lookalike=reading.has_foreign(start, end) or "xn--" in text[start:end].lower()))

    for match in _HTML.finditer(text):
        add("markup", match.start(), match.end(), "HTML markup")
    for match in _MARKDOWN_LINK.finditer(text):
        add("markup", match.start(), match.end(), _markdown_value(match.group(1), match.group(2)))
    for match in _EMAIL.finditer(text):
        add("email", match.start(), match.end(), match.group().lower())
    for start, end, address in _joined_emails(text):
        add("email", start, end, address)
    for match in _SPELLED_EMAIL.finditer(text):
        spelled = match.group()
        if "@" in spelled and not re.search(r"\s@|@\s|[\[(<{]", spelled):
            continue  # a plain address, found above
        if not re.search(r"\bdot\b|[\[(<{]|\s@|@\s", spelled, re.IGNORECASE):
            continue  # "the team at acme.com": an ordinary "at"; the domain itself is found below
        add("email", match.start(), match.end(), _unspell(spelled))
    for match in _URL.finditer(text):
        url = match.group().rstrip(".,;:!?")
        add("link", match.start(), match.start() + len(url), _host_of(url))
    for match in _BARE_DOMAIN.finditer(text):
        domain = match.group().rstrip(".,;:!?/")
        add("link", match.start(), match.start() + len(domain), _host_of(domain))
    for match in _IBAN.finditer(text):
        add("bank_account", match.start(), match.end(), match.group().replace(" ", ""))
    for match in _ISO_DATE.finditer(text):
        add("figure", match.start(), match.end(), match.group())
    for match in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 7 <= len(digits) <= 15 and not _DATE.match(match.group().strip()) and re.search(r"[\s.()+-]", match.group()):
            add("phone", match.start(), match.end(), digits)
    for name, pattern in COMMITMENTS.items():
        for match in pattern.finditer(text):
            add("commitment", match.start(), match.end(), name)
    for match in _DIGITS.finditer(text):
        figure = match.group().rstrip(".,")
        add("figure", match.start(), match.start() + len(figure), normalise_figure(figure))
    for match in _WORDS_NUMBER.finditer(text):
        value = _words_value(match.group())
        if not (value == 1 and match.group().lower() == "one"):
            add("figure", match.start(), match.end(), str(value))
    for match in _ONE_COUNTS.finditer(text):
        add("figure", match.start(), match.end(), "1")
    return sorted(found, key=lambda f: f.start)


def commitment_kinds(text: str) -> set[str]:
    """The kinds of commercial term a text names (a CSM's instruction: what it asks for)."""
    reading = _Reading(text).text
    return {name for name, pattern in COMMITMENTS.items() if pattern.search(reading)}


def review(texts: Mapping[str, str], *, sources: Mapping[str, str], allowed_domains: Iterable[str] = (),
           asked_for: str = "") -> Review:
    """Each finding in `texts` (name → text) with what in `sources` (label → what the writer was given)
    accounts for it, or the problem it is.

    Accepted: an address, link, phone or bank account that appears in a source, or an address or link at one
    of `allowed_domains` (the sender's own); a figure that appears in a source; a commercial term of a kind
    `asked_for` (the CSM's instruction) names. Never accepted: markup, and contact points in look-alike letters.
    """
    domains = tuple(d.lower().strip(".") for d in allowed_domains if d.strip())
    found_in_sources = {label: scan(text) for label, text in sources.items()}
    asked = commitment_kinds(asked_for) if asked_for else set()
    highlights: list[Highlight] = []
    for where, text in texts.items():
        for finding in scan(text):
            source, problem = _place(finding, where, found_in_sources, sources, domains, asked)
            highlights.append(Highlight(kind=finding.kind, text=finding.text, where=where, start=finding.start,
                                        end=finding.end, source=source, problem=problem))
    return Review(highlights=highlights)


def _place(finding: Finding, where: str, found_in_sources: Mapping[str, list[Finding]], sources: Mapping[str, str],
           domains: tuple[str, ...], asked: set[str]) -> tuple[str | None, str | None]:
    label = KIND_LABELS[finding.kind]
    if finding.kind == "markup":
        return None, (f"{where}: {_quote(finding.text)} is {finding.value}; a plain-text email carries no "
                      "markup, write the words instead")
    if finding.lookalike and finding.kind in {"email", "link"}:
        return None, (f"{where}: the {label} {_quote(finding.text)} is written with look-alike characters "
                      f"(it reads as {finding.value})")
    if finding.kind == "commitment":
        if finding.value in asked:
            return "instruction", None
        return None, (f"{where}: {_quote(finding.text)} offers commercial terms ({finding.value}) that no CSM's "
                      "instruction asked for; only a CSM's instruction can put them in a message")
    for source_label, findings in found_in_sources.items():
        if any(f.kind == finding.kind and finding.value in _values_of(finding, f) and not f.lookalike
               for f in findings):
            return source_label, None
        if finding.kind in {"phone", "bank_account"} and finding.value in re.sub(r"\W", "", sources[source_label]):
            return source_label, None
    if finding.kind in {"email", "link"}:
        host = finding.value.rsplit("@", 1)[-1]
        for domain in domains:
            if host == domain or host.endswith("." + domain):
                return f"sender's domain {domain}", None
    if finding.kind == "figure":
        return None, f"{where}: the figure {_quote(finding.text)} is not in the account's facts"
    accepted = f"those in the account's facts or at {', '.join(domains)}" if domains else \
        "those in the account's facts"
    reads = f" (it reads as {finding.value})" if finding.kind == "email" and finding.text.lower() != finding.value \
        else ""
    return None, (f"{where}: the {label} {_quote(finding.text)}{reads} is not in the account's facts "
                  f"(accepted: {accepted})")


def _term_problem(marker: str, terms: dict[tuple[str, str], list[str]]) -> str:
    where, problem = marker.split("\0", 1)
    kind = problem.split("(", 1)[1].split(")")[0]
    phrases = list(dict.fromkeys(terms[(where, kind)]))
    verb = "offers" if len(phrases) == 1 else "offer"
    return f"{where}: {', '.join(phrases)} {verb} commercial terms ({kind}){problem.split(')', 1)[1]}"


def _values_of(wanted: Finding, source: Finding) -> set[str]:
    """What a source's finding stands for: a date also stands for its year, month and day."""
    if wanted.kind == "figure" and _ISO_DATE.fullmatch(source.value):
        return {source.value, *(normalise_figure(part) for part in source.value.split("-"))}
    return {source.value}


def normalise_figure(figure: str) -> str:
    """A figure as compared: no thousands separators, no trailing dot or zeros, no leading zeros."""
    figure = figure.replace(",", "").rstrip(".")
    whole, _, fraction = figure.partition(".")
    fraction = fraction.rstrip("0")
    whole = whole.lstrip("0") or "0"
    return f"{whole}.{fraction}" if fraction else whole


def _words_value(words: str) -> int:
    total, current = 0, 0
    for word in re.split(r"[\s-]+", words.lower()):
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "dozen":
            current = (current or 1) * 12
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in _SCALES:
            total += (current or 1) * _SCALES[word]
            current = 0
    return total + current


def _joined_emails(text: str) -> Iterable[tuple[int, int, str]]:
    """Addresses split across a line break ("sam.jones@\\nexample.com"), read joined, at their span in `text`."""
    pattern = r"[a-z0-9_%+-]+(?:(?:[ \t]*\n\s*)?[@.](?:[ \t]*\n\s*)?[a-z0-9_%+-]+)+"
    for match in re.finditer(pattern, text, re.IGNORECASE):
        joined = re.sub(r"\s+", "", match.group())
        if "\n" in match.group() and (address := _EMAIL.fullmatch(joined)):
            yield match.start(), match.end(), address.group().lower()


def _markdown_value(shown: str, target: str) -> str:
    shown_host = next((_host_of(m.group()) for m in _URL.finditer(shown)), None) or \
        next((_host_of(m.group()) for m in _BARE_DOMAIN.finditer(shown)), None)
    target_host = _host_of(target)
    if shown_host and shown_host != target_host:
        return f"a link that shows {shown_host} but leads to {target_host}"
    return f"a markdown link to {target_host}"


def _unspell(spelled: str) -> str:
    text = re.sub(rf"{_SPELLED_AT}", "@", spelled, count=1, flags=re.IGNORECASE)
    return re.sub(_SPELLED_DOT, ".", text, flags=re.IGNORECASE).lower()


def _host_of(url: str) -> str:
    host = re.sub(r"^(?:https?|ftp)://|^mailto:", "", url, flags=re.IGNORECASE).split("/", 1)[0]
    return host.rsplit("@", 1)[-1].split(":", 1)[0].lower().removeprefix("www.")


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return f'"{text if len(text) <= 80 else text[:77] + "..."}"'
