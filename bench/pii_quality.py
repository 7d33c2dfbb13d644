"""PII detection quality and the cost of `pseudonymise` (issue 14, README "PII").

    .venv/bin/python bench/pii_quality.py [--sentences 2400] [--seed 14] [--latency-runs 60]

1. Quality: a generated set of sentences in English, German and Spanish — templates filled with Faker
   (names, emails, phone numbers, IBANs, card numbers, IPs) and with valid national ids (US SSN, UK NINO,
   DE Steuer-ID, ES DNI/NIE, FR NIR) — and negatives that must NOT be masked (order and invoice numbers,
   product codes, dates, versions, amounts, tracking numbers that fail the card check, IBAN-like strings that
   fail theirs). Recall and precision per entity type, a finding counting when it overlaps a gold span of its
   kind. Targets: recall >= 0.95 for emails, cards, IBANs, phones; precision >= 0.9.
2. Latency: detection + pseudonymisation of a ~500-token prompt (a different one each run, so no cache helps),
   p50 and p90, with person names (spaCy) and without; and the log masker's cost per line.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import string
import time
from collections import Counter
from dataclasses import dataclass

from faker import Faker

from parley.privacy.checksums import iban_valid, luhn_valid
from parley.privacy.detection import Detector
from parley.privacy.logmask import mask
from parley.privacy.redaction import PseudonymMap, pseudonymise
from parley.privacy.settings import PrivacySettings

TARGETED = ("EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "PHONE_NUMBER")


@dataclass
class Sample:
    text: str
    language: str
    gold: list[tuple[str, int, int]]


# Templates: {slot} is filled with a generated value; the slot's name is the entity kind.
TEMPLATES = {
    "en": [
        "Please forward the contract to {PERSON} at {EMAIL_ADDRESS} before Friday.",
        "You can reach {PERSON} on {PHONE_NUMBER} during office hours.",
        "Refund the order to card {CREDIT_CARD}, the customer asked twice.",
        "Transfer the deposit to IBAN {IBAN_CODE} and send the receipt to {EMAIL_ADDRESS}.",
        "The login came from {IP_ADDRESS}, which is not one of our offices.",
        "My social security number is {US_SSN}, please update the payroll record.",
        "Her National Insurance number is {UK_NINO}.",
        "{PERSON} called from {PHONE_NUMBER} about invoice INV-{INVOICE}.",
        "Card ending in {CREDIT_CARD} was charged twice on {DATE}.",
        "Dear {PERSON}, your new account {IBAN_CODE} is ready.",
    ],
    "de": [
        "Bitte schicken Sie den Vertrag an {PERSON}, {EMAIL_ADDRESS}, bis Freitag.",
        "Sie erreichen Frau {LAST_NAME} unter {PHONE_NUMBER}.",
        "Die Rückzahlung geht auf die Karte {CREDIT_CARD}.",
        "Überweisen Sie die Kaution auf die IBAN {IBAN_CODE}.",
        "Meine Steuer-ID ist {DE_TAX_ID}, bitte in der Lohnabrechnung ändern.",
        "Der Zugriff kam von {IP_ADDRESS} am {DATE}.",
        "Herr {LAST_NAME} hat wegen der Rechnung RE-{INVOICE} angerufen: {PHONE_NUMBER}.",
        "Kontakt: {EMAIL_ADDRESS}, Telefon {PHONE_NUMBER}.",
    ],
    "es": [
        "Por favor, envíe el contrato a {PERSON} a {EMAIL_ADDRESS} antes del viernes.",
        "Puede llamar a {PERSON} al {PHONE_NUMBER} por la mañana.",
        "Devuelva el importe a la tarjeta {CREDIT_CARD}.",
        "Transfiera la fianza a la cuenta {IBAN_CODE}.",
        "Mi DNI es {ES_NIF} y el NIE de mi pareja es {ES_NIE}.",
        "El acceso vino de {IP_ADDRESS} el {DATE}.",
        "Mi número de la seguridad social francesa es {FR_NIR}.",
        "Escriba a {EMAIL_ADDRESS} o llame al {PHONE_NUMBER}.",
    ],
}
NEGATIVES = {
    "en": [
        "Order ORD-{YEAR}-{ORDER} shipped on {DATE} with tracking number {TRACKING}.",
        "Product SKU {SKU} costs {AMOUNT} USD; version {VERSION} fixes the bug.",
        "The meeting moved to {DATE} at 10:30 in room {ROOM}.",
        "Invoice INV-{INVOICE} for {AMOUNT} EUR is due on {DATE}.",
        "Reference {FAKE_IBAN} is not an account number but a batch id.",
        "Ticket #{TICKET} was closed after {HOURS} hours.",
    ],
    "de": [
        "Bestellung {ORDER} wurde am {DATE} verschickt, Sendungsnummer {TRACKING}.",
        "Artikel {SKU} kostet {AMOUNT} Euro, Version {VERSION}.",
        "Die Besprechung ist am {DATE} um 14:00 Uhr in Raum {ROOM}.",
        "Rechnung Nr. {INVOICE} über {AMOUNT} Euro ist am {DATE} fällig.",
    ],
    "es": [
        "El pedido {ORDER} salió el {DATE} con el número de seguimiento {TRACKING}.",
        "El producto {SKU} cuesta {AMOUNT} euros, versión {VERSION}.",
        "La reunión es el {DATE} a las 10:00 en la sala {ROOM}.",
        "La factura {INVOICE} de {AMOUNT} euros vence el {DATE}.",
    ],
}
FAKERS = {"en": ("en_US", "en_GB"), "de": ("de_DE", "de_AT"), "es": ("es_ES",)}


def _steuer_id(rng: random.Random) -> str:
    """A valid German tax id: 10 digits (one digit twice or thrice), then an ISO 7064 MOD 11,10 check digit."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(9)]
        counts = Counter(digits).values()
        if sorted(counts, reverse=True)[0] in (2, 3) and sum(1 for c in counts if c > 1) == 1:
            break
    product = 10
    for digit in digits:
        total = (digit + product) % 10 or 10
        product = (total * 2) % 11
    check = (11 - product) % 10
    return "".join(map(str, digits)) + str(check)


def _nino(rng: random.Random) -> str:
    first = rng.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in {"BG", "GB", "NK", "KN", "NT", "TN", "ZZ"}:
        first, second = "A", "B"
    number = "".join(str(rng.randint(0, 9)) for _ in range(6))
    return f"{first}{second} {number[:2]} {number[2:4]} {number[4:]} {rng.choice('ABCD')}"


def _nir(rng: random.Random) -> str:
    body = f"{rng.choice('12')}{rng.randint(40, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 95):02d}"
    body += f"{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}"
    key = 97 - int(body) % 97
    return f"{body[0]} {body[1:3]} {body[3:5]} {body[5:7]} {body[7:10]} {body[10:13]} {key:02d}"


def _ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _not_luhn(rng: random.Random) -> str:
    while True:
        number = "".join(str(rng.randint(0, 9)) for _ in range(16))
        if not luhn_valid(number):
            return number


def _fake_iban(rng: random.Random) -> str:
    while True:
        value = "DE" + "".join(str(rng.randint(0, 9)) for _ in range(20))
        if not iban_valid(value):
            return value


def _value(slot: str, fake: Faker, rng: random.Random) -> str:
    if slot == "PERSON":
        return f"{fake.first_name()} {fake.last_name()}"
    generated = {
        "LAST_NAME": fake.last_name,
        "EMAIL_ADDRESS": fake.email,
        "PHONE_NUMBER": fake.phone_number,
        "CREDIT_CARD": fake.credit_card_number,
        "IBAN_CODE": fake.iban,
        "IP_ADDRESS": lambda: fake.ipv4_public() if rng.random() < 0.8 else fake.ipv6(),
        "US_SSN": lambda: _ssn(rng),
        "UK_NINO": lambda: _nino(rng),
        "DE_TAX_ID": lambda: _steuer_id(rng),
        "ES_NIF": lambda: Faker("es_ES").nif(),
        "ES_NIE": lambda: Faker("es_ES").nie(),
        "FR_NIR": lambda: _nir(rng),
        "DATE": lambda: rng.choice([fake.date(), fake.date(pattern="%d.%m.%Y"), fake.date(pattern="%d/%m/%Y")]),
        "YEAR": lambda: str(rng.randint(2019, 2026)),
        "ORDER": lambda: f"{rng.randint(100000, 9999999)}",
        "INVOICE": lambda: f"{rng.randint(2019, 2026)}-{rng.randint(1, 999999):06d}",
        "TRACKING": lambda: _not_luhn(rng),
        "SKU": lambda: (
            f"{rng.choice(string.ascii_uppercase)}{rng.choice(string.ascii_uppercase)}-"
            f"{rng.randint(10000, 99999)}-{rng.choice(string.ascii_uppercase)}{rng.choice(string.ascii_uppercase)}"
        ),
        "AMOUNT": lambda: f"{rng.randint(1, 99)}.{rng.randint(100, 999)},{rng.randint(10, 99)}",
        "VERSION": lambda: f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        "ROOM": lambda: f"{rng.randint(1, 5)}.{rng.randint(100, 450)}",
        "TICKET": lambda: str(rng.randint(10000, 99999)),
        "HOURS": lambda: str(rng.randint(2, 72)),
        "FAKE_IBAN": lambda: _fake_iban(rng),
    }
    return generated[slot]()


GOLD_KINDS = {
    "PERSON",
    "LAST_NAME",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "UK_NINO",
    "DE_TAX_ID",
    "ES_NIF",
    "ES_NIE",
    "FR_NIR",
}


def _fill(template: str, language: str, fake: Faker, rng: random.Random) -> Sample:
    text, gold, rest = "", [], template
    while "{" in rest:
        before, _, after = rest.partition("{")
        slot, _, rest = after.partition("}")
        text += before
        value = _value(slot, fake, rng)
        if slot in GOLD_KINDS:
            gold.append(("PERSON" if slot == "LAST_NAME" else slot, len(text), len(text) + len(value)))
        text += value
    return Sample(text + rest, language, gold)


def generate(count: int, seed: int) -> list[Sample]:
    rng = random.Random(seed)
    Faker.seed(seed)
    fakers = {lang: [Faker(loc) for loc in locales] for lang, locales in FAKERS.items()}
    samples = []
    for index in range(count):
        language = ("en", "de", "es")[index % 3]
        fake = rng.choice(fakers[language])
        pool = NEGATIVES[language] if index % 4 == 3 else TEMPLATES[language]
        samples.append(_fill(rng.choice(pool), language, fake, rng))
    return samples


def evaluate(detector: Detector, samples: list[Sample]) -> dict[str, Counter[str]]:
    scores: dict[str, Counter[str]] = {}
    for sample in samples:
        found = detector.detect(sample.text)
        for kind, start, end in sample.gold:
            hit = any(f.kind == kind and f.start < end and start < f.end for f in found)
            scores.setdefault(kind, Counter())["tp" if hit else "fn"] += 1
        for f in found:
            if not any(kind == f.kind and f.start < end and start < f.end for kind, start, end in sample.gold):
                scores.setdefault(f.kind, Counter())["fp"] += 1
    return scores


def _prompt(fake: Faker, rng: random.Random) -> str:
    """~500 tokens (~2,500 characters, ~370 words) of English with a few pieces of personal data."""
    paragraphs = [fake.paragraph(nb_sentences=7) for _ in range(10)]
    paragraphs.insert(1, f"Please ask {fake.name()} ({fake.email()}, {fake.phone_number()}) to check it.")
    paragraphs.insert(3, f"The refund goes to {fake.iban()}; card {fake.credit_card_number()} stays on file.")
    paragraphs.append(f"Ticket {rng.randint(10000, 99999)} — {fake.name()} will follow up on {fake.date()}.")
    return "\n\n".join(paragraphs)


def latency(names: bool, runs: int, seed: int) -> tuple[float, float, int]:
    detector = Detector(PrivacySettings(names=names))
    detector.load()
    fake, rng = Faker("en_US"), random.Random(seed)
    detector.detect(_prompt(fake, rng))  # warm-up (first call allocates)
    timings, chars = [], []
    for _ in range(runs):
        prompt = _prompt(fake, rng)
        chars.append(len(prompt))
        started = time.perf_counter()
        pseudonymise(prompt, detector.detect(prompt), PseudonymMap())
        timings.append(time.perf_counter() - started)
    timings.sort()
    return statistics.median(timings) * 1000, timings[int(len(timings) * 0.9)] * 1000, int(statistics.mean(chars))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=2400)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--latency-runs", type=int, default=60)
    args = parser.parse_args()

    samples = generate(args.sentences, args.seed)
    negatives = sum(1 for s in samples if not s.gold)
    detector = Detector(PrivacySettings())
    started = time.perf_counter()
    scores = evaluate(detector, samples)
    took = time.perf_counter() - started
    print(f"{len(samples)} sentences (en/de/es), {negatives} negatives, analysed in {took:.1f} s")
    print(f"{'entity':<15} {'gold':>5} {'tp':>5} {'fn':>4} {'fp':>4} {'recall':>7} {'precision':>9}")
    for kind in sorted(scores):
        c = scores[kind]
        gold = c["tp"] + c["fn"]
        recall = c["tp"] / gold if gold else float("nan")
        precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
        mark = " *" if kind in TARGETED else ""
        print(f"{kind:<15} {gold:>5} {c['tp']:>5} {c['fn']:>4} {c['fp']:>4} {recall:>7.3f} {precision:>9.3f}{mark}")
    print("* targeted: recall >= 0.95, precision >= 0.9")

    print(f"\nload average {os.getloadavg()[0]:.1f}; pseudonymise a ~500-token prompt ({args.latency_runs} runs):")
    for names in (True, False):
        p50, p90, chars = latency(names, args.latency_runs, args.seed)
        label = "with names (spaCy NER)" if names else "patterns only (names off)"
        print(f"  {label:<27} p50 {p50:6.1f} ms   p90 {p90:6.1f} ms   ({chars} characters on average)")
    line = '{"event": "request", "method": "POST", "path": "/api/v1/chat", "status": 200, "duration_ms": 41.2}'
    runs = 20_000
    started = time.perf_counter()
    for _ in range(runs):
        mask(line)
    print(f"  log line masking: {(time.perf_counter() - started) / runs * 1e6:.1f} µs per line")


if __name__ == "__main__":
    main()
