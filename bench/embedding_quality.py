"""Retrieval quality and speed of the bundled embedding models (MiniLM int8, multilingual-e5-small q4).

A small hand-written evaluation set in the shape of company documents: 40 English passages, one English
question per passage, and German and Spanish questions for 20 of them (cross-lingual: the question's language
differs from the passage's). Every question is searched against all 40 passages by cosine similarity; the
figures are recall@1, recall@3 and MRR (mean reciprocal rank of the right passage), then documents per second
(passages of ~25 words, batches of 32, one thread, as ingestion runs by default).

    .venv/bin/python bench/embedding_quality.py [--threads N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from parley.config import EmbeddingSettings
from parley.embeddings import create_embedder

# (passage, English question, German question or None, Spanish question or None)
CASES: list[tuple[str, str, str | None, str | None]] = [
    (
        "Every full-time employee receives 28 days of paid vacation per calendar year; "
        "part-time staff get a pro-rated share.",
        "How many vacation days do I get per year?",
        "Wie viele Urlaubstage habe ich im Jahr?",
        "¿Cuántos días de vacaciones tengo al año?",
    ),
    (
        "Travel expenses must be submitted through the finance portal within 30 days of the trip, "
        "with all receipts attached.",
        "What is the deadline for submitting travel expenses?",
        "Bis wann muss ich meine Reisekosten einreichen?",
        "¿Cuál es el plazo para presentar los gastos de viaje?",
    ),
    (
        "If you lose your access badge, report it to reception immediately so it can be deactivated.",
        "What should I do if I lose my badge?",
        "Was mache ich, wenn ich meinen Ausweis verliere?",
        "¿Qué hago si pierdo mi tarjeta de acceso?",
    ),
    (
        "The office Wi-Fi network is called CorpNet; guests use CorpGuest with the daily password shown at reception.",
        "Which wifi network should visitors use?",
        "Welches WLAN sollen Besucher benutzen?",
        "¿Qué red wifi deben usar los visitantes?",
    ),
    (
        "Parental leave is paid at full salary for the first 16 weeks and can be taken by either parent.",
        "How long is paid parental leave?",
        "Wie lange wird die Elternzeit bezahlt?",
        "¿Cuánto dura el permiso parental pagado?",
    ),
    (
        "Laptops are replaced every three years; request an early replacement through the IT service desk "
        "if yours is broken.",
        "How often do we get new laptops?",
        "Wie oft bekommen wir neue Laptops?",
        "¿Cada cuánto tiempo nos cambian el portátil?",
    ),
    (
        "The cafeteria serves lunch from 11:30 to 14:00 and offers a vegetarian dish every day.",
        "When is lunch served in the canteen?",
        "Wann gibt es Mittagessen in der Kantine?",
        "¿A qué hora se sirve la comida en la cafetería?",
    ),
    (
        "Passwords must be at least 12 characters long and are changed only when there is a sign of compromise.",
        "What are the password requirements?",
        "Wie lang muss ein Passwort sein?",
        "¿Qué requisitos tiene la contraseña?",
    ),
    (
        "Employees may work from home up to three days a week after agreeing the schedule with their manager.",
        "How many days can I work remotely?",
        "Wie viele Tage darf ich im Homeoffice arbeiten?",
        "¿Cuántos días puedo teletrabajar?",
    ),
    (
        "Sick leave must be reported to your manager before 9 am; a doctor's note is needed from the fourth day.",
        "When do I need a doctor's note when I am ill?",
        "Ab wann brauche ich eine Krankmeldung vom Arzt?",
        "¿Desde cuándo necesito un justificante médico?",
    ),
    (
        "The annual performance review takes place in November and includes a salary discussion.",
        "When are performance reviews held?",
        "Wann finden die Mitarbeitergespräche statt?",
        "¿Cuándo son las evaluaciones de desempeño?",
    ),
    (
        "Bicycles can be parked in the basement garage; the entrance is on Mill Street and opens with your badge.",
        "Where can I park my bike?",
        "Wo kann ich mein Fahrrad abstellen?",
        "¿Dónde puedo aparcar la bicicleta?",
    ),
    (
        "The company matches pension contributions up to 5 percent of the gross salary.",
        "Does the employer contribute to my pension?",
        "Zahlt der Arbeitgeber in meine Altersvorsorge ein?",
        "¿La empresa aporta a mi plan de pensiones?",
    ),
    (
        "Customer data may only be stored in the approved EU data centres and never on personal devices.",
        "Where are we allowed to store customer data?",
        "Wo dürfen Kundendaten gespeichert werden?",
        "¿Dónde podemos guardar los datos de clientes?",
    ),
    (
        "New hires receive their equipment on the first day and attend an onboarding session on Monday afternoon.",
        "What happens on my first day?",
        "Was passiert an meinem ersten Arbeitstag?",
        "¿Qué pasa en mi primer día de trabajo?",
    ),
    (
        "Overtime is compensated with time off in lieu, to be taken within three months.",
        "How is overtime compensated?",
        "Wie werden Überstunden ausgeglichen?",
        "¿Cómo se compensan las horas extra?",
    ),
    (
        "Phishing emails should be reported with the 'Report phishing' button in the mail client; "
        "do not click any links.",
        "How do I report a suspicious email?",
        "Wie melde ich eine verdächtige E-Mail?",
        "¿Cómo informo de un correo sospechoso?",
    ),
    (
        "Business class flights are allowed only for trips longer than six hours.",
        "Can I fly business class?",
        "Darf ich Business Class fliegen?",
        "¿Puedo volar en clase business?",
    ),
    (
        "The training budget is 1,500 euros per employee per year for courses, books and conferences.",
        "How much money is there for training?",
        "Wie hoch ist das Weiterbildungsbudget?",
        "¿Cuánto presupuesto hay para formación?",
    ),
    (
        "The notice period is one month during probation and three months afterwards.",
        "What is the notice period?",
        "Wie lange ist die Kündigungsfrist?",
        "¿Cuál es el periodo de preaviso?",
    ),
    (
        "Quarterly revenue grew by 12 percent, driven by the new subscription plans in Europe.",
        "How much did revenue grow last quarter?",
        None,
        None,
    ),
    (
        "The data warehouse is refreshed every night at 2 am; dashboards show the previous day's figures.",
        "How up to date are the dashboards?",
        None,
        None,
    ),
    (
        "Production deployments are frozen from December 20 to January 5 except for security fixes.",
        "When is the deployment freeze?",
        None,
        None,
    ),
    (
        "On-call engineers receive a weekly allowance of 300 euros plus overtime for incidents at night.",
        "How is on-call duty paid?",
        None,
        None,
    ),
    (
        "All pull requests need one approving review and a green CI run before they can be merged.",
        "What is required before merging a pull request?",
        None,
        None,
    ),
    (
        "The meeting room booking system releases a room if nobody checks in within 15 minutes.",
        "What happens if I don't show up to my room booking?",
        None,
        None,
    ),
    (
        "Fire drills happen twice a year; the assembly point is the car park behind building B.",
        "Where do we gather during a fire alarm?",
        None,
        None,
    ),
    (
        "Gifts from suppliers worth more than 50 euros must be declared to the compliance team.",
        "Can I accept presents from vendors?",
        None,
        None,
    ),
    (
        "Invoices are paid within 30 days; suppliers send them to invoices@company.example as PDF.",
        "Where should suppliers send their invoices?",
        None,
        None,
    ),
    (
        "Employees can buy discounted public transport tickets through the mobility benefit.",
        "Is there a subsidy for train or bus tickets?",
        None,
        None,
    ),
    (
        "The VPN must be used on public networks; it connects automatically on company laptops.",
        "Do I need the VPN in a cafe?",
        None,
        None,
    ),
    (
        "Expense reports above 5,000 euros require approval from a director.",
        "Who approves large expense claims?",
        None,
        None,
    ),
    (
        "The company headquarters moved to Hamburg in 2019; the Berlin office remains for engineering.",
        "Where is the head office?",
        None,
        None,
    ),
    (
        "Each team holds a retrospective at the end of every two-week sprint.",
        "How often do retrospectives happen?",
        None,
        None,
    ),
    (
        "Backups of the production database are kept for 35 days and tested monthly by restoring them.",
        "How long are database backups retained?",
        None,
        None,
    ),
    (
        "Interns are paid 1,800 euros per month and get the same vacation entitlement as employees.",
        "Are internships paid?",
        None,
        None,
    ),
    (
        "Open-source contributions made during working hours need approval from the legal team.",
        "Can I contribute to open source projects at work?",
        None,
        None,
    ),
    (
        "The support hotline is staffed from 8 am to 8 pm on weekdays; urgent tickets are handled around the clock.",
        "When is customer support available?",
        None,
        None,
    ),
    (
        "Desk sharing applies on floors 3 and 4; personal items go into the lockers at the end of the day.",
        "Do I have a fixed desk?",
        None,
        None,
    ),
    ("Salary is paid on the last working day of each month by bank transfer.", "When do we get paid?", None, None),
]


def ranks(questions: np.ndarray, passages: np.ndarray, targets: list[int]) -> list[int]:
    scores = questions @ passages.T
    return [int((row > row[target]).sum()) + 1 for row, target in zip(scores, targets, strict=True)]


def summary(found: list[int]) -> str:
    recall1 = sum(r == 1 for r in found) / len(found)
    recall3 = sum(r <= 3 for r in found) / len(found)
    mrr = sum(1 / r for r in found) / len(found)
    return f"R@1 {recall1:.2f}  R@3 {recall3:.2f}  MRR {mrr:.3f}  (n={len(found)})"


async def evaluate(provider: str, *, threads: int, rounds: int) -> None:
    embedder = create_embedder(EmbeddingSettings(provider=provider, threads=threads, batch_size=32))
    try:
        passages = np.asarray(await embedder.embed_documents([case[0] for case in CASES]))
        print(f"\n{provider} ({embedder.name})")
        for label, column in (("English", 1), ("German", 2), ("Spanish", 3)):
            pairs = [(case[column], i) for i, case in enumerate(CASES) if case[column]]
            questions = np.asarray([await embedder.embed_query(str(q)) for q, _ in pairs])
            print(f"  {label:8} {summary(ranks(questions, passages, [i for _, i in pairs]))}")
        corpus = [case[0] for case in CASES] * 8
        await embedder.embed_documents(corpus[:32])  # warm
        started = time.perf_counter()
        for _ in range(rounds):
            await embedder.embed_documents(corpus)
        elapsed = time.perf_counter() - started
        print(f"  speed    {rounds * len(corpus) / elapsed:.0f} passages/s ({threads} thread(s), batches of 32)")
        started = time.perf_counter()
        for case in CASES:
            await embedder.embed_query(case[1])
        print(f"  query    {(time.perf_counter() - started) / len(CASES) * 1000:.1f} ms per single question")
    finally:
        await embedder.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    for provider in ("minilm", "e5-small"):
        asyncio.run(evaluate(provider, threads=arguments.threads, rounds=arguments.rounds))


if __name__ == "__main__":
    main()
