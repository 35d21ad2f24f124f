"""Finding what a reviewer must check in written text, and placing it against what the writer was given."""

from __future__ import annotations

import pytest

from store.text_checks import review, scan

FACTS = {"facts: renewal_date": "2027-03-03", "facts: active_users": "340", "recipient's address": "pat@acme.com",
         "facts: usage_change": "+12%", "template": "Would you have 45 minutes in the next two weeks?"}


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.value) for f in scan(text)]


@pytest.mark.parametrize(("text", "found"), [
    ("write to billing@attacker.example", ("email", "billing@attacker.example")),
    ("sam dot jones at attacker dot example", ("email", "sam.jones@attacker.example")),
    ("Sam Jones at sam dot jones at attacker dot example", ("email", "sam.jones@attacker.example")),
    ("sam [at] attacker [dot] example", ("email", "sam@attacker.example")),
    ("sam.jones@\nattacker.example", ("email", "sam.jones@attacker.example")),
    ("sam.jones\n@attacker.example", ("email", "sam.jones@attacker.example")),
    ("pay at https://pay.attacker.example/renew.", ("link", "pay.attacker.example")),
    ("see pay.attacker.example/renew", ("link", "pay.attacker.example")),
    ("see www.attacker.example", ("link", "attacker.example")),
    ("https://attacker\u200b.example/x", ("link", "attacker.example")),
    ("ｈｔｔｐｓ://attacker.example", ("link", "attacker.example")),
    ("call +44 20 7946 0958 today", ("phone", "442079460958")),
    ("call (555) 123-4567", ("phone", "5551234567")),
    ("IBAN DE89 3704 0044 0532 0130 00", ("bank_account", "DE89370400440532013000")),
    ("<a href='x'>renew</a>", ("markup", "HTML markup")),
    ("[acme.com](https://evil.example/x)", ("markup", "a link that shows acme.com but leads to evil.example")),
    ("forty percent", ("figure", "40")),
    ("twenty-five users", ("figure", "25")),
    ("one hundred and fifty seats", ("figure", "150")),
    ("a free year", ("figure", "1")),
    ("1,025,700 USD", ("figure", "1025700")),
    ("forty percent off", ("commitment", "discount")),
    ("we will refund you", ("commitment", "refund")),
    ("three months for free", ("commitment", "free period")),
    ("we will waive the fee", ("commitment", "free period")),
    ("a price freeze", ("commitment", "price")),
    ("we can extend your contract", ("commitment", "contract change")),
    ("please wire the amount", ("commitment", "payment instruction")),
])
def test_each_kind_is_found_in_its_disguises(text: str, found: tuple[str, str]) -> None:
    assert found in kinds(text)


@pytest.mark.parametrize("text", [
    "Hi Pat,\n\nIt has been a while since we last spoke. No one on our side has forgotten you.",
    "Looking back at the past year, one of the things your team did well was adoption.",
    "Thanks.\nBest regards,\nAna Garcia",
    "We looked at usage. Next, I would like to hear your priorities.",
    "Could we find a time that suits you?",
    "Your renewal is on 2027-03-03 at the latest.",
])
def test_ordinary_prose_holds_nothing_to_check_but_its_figures(text: str) -> None:
    assert [f for f in scan(text) if f.kind != "figure"] == []


def test_look_alike_letters_are_read_as_what_they_imitate_and_refused() -> None:
    checked = review({"body": "Log in at https://еxample.com/renew"}, sources=FACTS, allowed_domains=["example.com"])
    (problem,) = checked.problems
    assert "look-alike characters" in problem and "example.com" in problem


def test_what_the_facts_hold_is_placed_and_the_rest_is_a_problem() -> None:
    body = ("Hi Pat, your 340 active users grew 12% and your renewal is on March 3, 2027. Do you have 45 minutes "
            "in the next two weeks? Write to pat@acme.com or help@example.com, or see https://example.com/help. "
            "We now have 500 users like you at https://attacker.example.")
    checked = review({"body": body}, sources=FACTS, allowed_domains=["example.com"])
    placed = {h.text: h.source for h in checked.highlights if h.problem is None}
    assert placed == {"340": "facts: active_users", "12": "facts: usage_change", "3": "facts: renewal_date",
                      "2027": "facts: renewal_date", "45": "template", "two": "template",
                      "pat@acme.com": "recipient's address", "help@example.com": "sender's domain example.com",
                      "https://example.com/help": "sender's domain example.com"}
    assert checked.problems == [
        'body: the figure "500" is not in the account\'s facts',
        'body: the link "https://attacker.example" is not in the account\'s facts (accepted: those in the account\'s '
        "facts or at example.com)"]


def test_commercial_terms_pass_only_when_the_instruction_asks_for_that_kind() -> None:
    text = {"body": "Hi Pat, as discussed we can offer a 10% discount on the renewal, and a refund."}
    sources = {**FACTS, "instruction": "offer the 10% discount we agreed"}
    checked = review(text, sources=sources, asked_for="offer the 10% discount we agreed")
    assert [(h.text, h.source) for h in checked.highlights if h.kind == "commitment" and h.problem is None] == [
        ("discount", "instruction")]
    assert checked.problems == ['body: "refund" offers commercial terms (refund) that no CSM\'s instruction asked for; '
                                "only a CSM's instruction can put them in a message"]


def test_positions_point_at_the_written_text_even_with_invisible_characters() -> None:
    written = "Hi\u200b Pat, see https://attacker\u200b.example now"
    (link,) = [f for f in scan(written) if f.kind == "link"]
    assert written[link.start:link.end] == link.text == "https://attacker\u200b.example"
