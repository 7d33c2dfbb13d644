"""A needle-in-a-haystack set: 40 unique facts, each with a question and the phrase that proves the right chunk
was found, hidden among generated office prose in TXT, DOCX, PDF and XLSX files made in code."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import docx
import openpyxl
from fpdf import FPDF


@dataclass(frozen=True)
class Needle:
    fact: str
    question: str
    # Appears in the fact and nowhere in the filler: the chunk holding it is the right one.
    key: str


NEEDLES = [
    Needle(
        "The badge printer on floor 7 is serviced by Kestrel Office Supplies every second Tuesday.",
        "Who services the badge printer on floor 7?",
        "Kestrel Office Supplies",
    ),
    Needle(
        "The Lisbon office wifi password rotates on the first Monday of each quarter.",
        "When does the Lisbon office wifi password change?",
        "first Monday of each quarter",
    ),
    Needle(
        "Project Bluefin has a budget of 4.2 million euros for 2025.",
        "What is the budget of Project Bluefin for 2025?",
        "4.2 million euros",
    ),
    Needle(
        "The staff canteen in Oslo serves vegan lasagne every Thursday.",
        "What does the Oslo canteen serve on Thursdays?",
        "vegan lasagne",
    ),
    Needle(
        "Expense reports above 5,000 dollars need approval from the regional finance director Marta Ilves.",
        "Who must approve expense reports over 5,000 dollars?",
        "Marta Ilves",
    ),
    Needle(
        "The on-call rotation for the payments API hands over at 09:00 UTC on Wednesdays.",
        "When does the payments API on-call rotation hand over?",
        "09:00 UTC on Wednesdays",
    ),
    Needle(
        "The Sirocco data centre in Marseille has run on hydroelectric power since March 2023.",
        "What powers the Sirocco data centre?",
        "hydroelectric power",
    ),
    Needle(
        "New employees receive a Lenovo ThinkPad X1 Carbon as their standard laptop.",
        "Which laptop model do new employees get?",
        "ThinkPad X1 Carbon",
    ),
    Needle(
        "The annual company retreat in 2025 takes place in Bled, Slovenia.",
        "Where is the 2025 company retreat held?",
        "Bled, Slovenia",
    ),
    Needle(
        "Parental leave is 26 weeks, fully paid, for every parent.",
        "How long is paid parental leave?",
        "26 weeks",
    ),
    Needle(
        "The internal code name for the mobile app rewrite is Project Pangolin.",
        "What is the code name of the mobile app rewrite?",
        "Project Pangolin",
    ),
    Needle(
        "Customer refunds are processed within 14 business days by the Tallinn support hub.",
        "How quickly are customer refunds processed?",
        "14 business days",
    ),
    Needle(
        "The security team requires hardware keys made by Yubico for all administrator accounts.",
        "What hardware keys do administrator accounts need?",
        "Yubico",
    ),
    Needle(
        "The maximum file size in the document archive is 750 megabytes.",
        "What is the largest file the document archive accepts?",
        "750 megabytes",
    ),
    Needle(
        "The Berlin warehouse stocks exactly 1,240 replacement conveyor belts.",
        "How many replacement conveyor belts does the Berlin warehouse hold?",
        "1,240 replacement conveyor belts",
    ),
    Needle(
        "The quarterly town hall is hosted by chief operating officer Dara Okonkwo.",
        "Who hosts the quarterly town hall?",
        "Dara Okonkwo",
    ),
    Needle(
        "Visitors to the Zurich lab must wear orange safety glasses in the clean room.",
        "What must visitors wear in the Zurich clean room?",
        "orange safety glasses",
    ),
    Needle(
        "The loyalty programme tier called Platinum Heron requires 80,000 points per year.",
        "How many points does the Platinum Heron tier require?",
        "80,000 points",
    ),
    Needle(
        "Database backups are kept for 35 days in the Frankfurt region.",
        "How long are database backups kept?",
        "35 days",
    ),
    Needle(
        "The mentoring programme pairs each graduate with a senior engineer for nine months.",
        "How long does the graduate mentoring programme last?",
        "nine months",
    ),
    Needle(
        "The bicycle allowance for commuters is 45 euros per month.",
        "How much is the bicycle commuting allowance?",
        "45 euros per month",
    ),
    Needle(
        "The fire assembly point for the Dublin office is the car park behind Mercer Street.",
        "Where is the fire assembly point of the Dublin office?",
        "Mercer Street",
    ),
    Needle(
        "Sales commissions are paid out on the 20th day of the month after the deal closes.",
        "When are sales commissions paid out?",
        "20th day of the month",
    ),
    Needle(
        "The brand colour for marketing material is a teal called Lagoon 5473.",
        "What is the brand colour for marketing material?",
        "Lagoon 5473",
    ),
    Needle(
        "Japanese documentation is translated by the vendor Sakura Lingua in Osaka.",
        "Who translates the Japanese documentation?",
        "Sakura Lingua",
    ),
    Needle(
        "The server room temperature must stay between 18 and 24 degrees Celsius.",
        "What temperature range must the server room keep?",
        "18 and 24 degrees",
    ),
    Needle(
        "The legal team signs non-disclosure agreements through the DocuSeal platform.",
        "Which platform does legal use to sign NDAs?",
        "DocuSeal",
    ),
    Needle(
        "The customer satisfaction score for the third quarter was 87.5 percent.",
        "What was the customer satisfaction score in the third quarter?",
        "87.5 percent",
    ),
    Needle(
        "The Madrid office closes early at 15:00 on Fridays during July and August.",
        "When does the Madrid office close on summer Fridays?",
        "15:00 on Fridays",
    ),
    Needle(
        "Interns may claim up to three days of paid study leave before exams.",
        "How much study leave can interns take before exams?",
        "three days of paid study leave",
    ),
    Needle(
        "The fleet of delivery vans is being replaced with electric Renault Master vehicles.",
        "Which vehicles replace the delivery vans?",
        "Renault Master",
    ),
    Needle(
        "Penetration tests of the web platform are done twice a year by Northwind Security.",
        "Who performs the penetration tests of the web platform?",
        "Northwind Security",
    ),
    Needle(
        "The company aims to be carbon neutral by the year 2032.",
        "By which year does the company aim to be carbon neutral?",
        "2032",
    ),
    Needle(
        "Conference room Aurora on the fifth floor seats 22 people.",
        "How many people fit in conference room Aurora?",
        "22 people",
    ),
    Needle(
        "The help desk phone extension for password resets is 4417.",
        "Which phone extension handles password resets?",
        "4417",
    ),
    Needle(
        "Annual performance reviews must be completed by the 15th of December.",
        "When are annual performance reviews due?",
        "15th of December",
    ),
    Needle(
        "Coffee beans for all offices are supplied by a cooperative called Montana Verde.",
        "Who supplies the coffee beans for the offices?",
        "Montana Verde",
    ),
    Needle(
        "Remote employees get a home office stipend of 600 euros once every two years.",
        "How large is the home office stipend for remote employees?",
        "600 euros",
    ),
    Needle(
        "Chat transcripts are retained for 18 months before deletion.",
        "How long are chat transcripts retained?",
        "18 months",
    ),
    Needle(
        "The warehouse robots are manufactured by Osprey Robotics in Eindhoven.",
        "Who manufactures the warehouse robots?",
        "Osprey Robotics",
    ),
]

_SUBJECTS = [
    "The procurement team",
    "Our facilities group",
    "The quality office",
    "Each department head",
    "The people operations team",
    "The internal audit function",
    "Regional managers",
    "The communications team",
    "Project leads",
    "The workplace committee",
]
_VERBS = ["reviews", "updates", "documents", "discusses", "circulates", "revises", "checks", "summarises"]
_OBJECTS = [
    "the vendor onboarding checklist",
    "the meeting room booking rules",
    "the travel guidelines",
    "the onboarding handbook",
    "the incident review template",
    "the office move schedule",
    "the recycling instructions",
    "the holiday calendar",
    "the training catalogue",
    "the stationery order form",
    "the guest registration process",
    "the parking permit rules",
]
_TAILS = [
    "at the start of each planning cycle.",
    "whenever a manager asks for it.",
    "after feedback from the staff survey.",
    "and shares a short summary on the intranet.",
    "together with the team leads.",
    "so that everyone works from the same version.",
    "before the next all-hands meeting.",
    "in line with the general policy framework.",
]


def filler_paragraph(rng: random.Random, sentences: int = 5) -> str:
    return " ".join(
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}"
        for _ in range(sentences)
    )


def paragraphs(needles: list[Needle], seed: int, filler_per_fact: int = 6) -> list[str]:
    """Filler paragraphs with one fact inside each run of them."""
    rng = random.Random(seed)
    out: list[str] = []
    for needle in needles:
        block = [filler_paragraph(rng) for _ in range(filler_per_fact)]
        block.insert(rng.randrange(1, filler_per_fact), f"{filler_paragraph(rng, 2)} {needle.fact}")
        out += block
    return out


def txt_bytes(texts: list[str]) -> bytes:
    return "\n\n".join(texts).encode()


def docx_bytes(texts: list[str]) -> bytes:
    document = docx.Document()
    document.add_heading("Operations handbook", level=1)
    for n, body in enumerate(texts):
        if n % 7 == 0:
            document.add_heading(f"Section {n // 7 + 1}", level=2)
        document.add_paragraph(body)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def pdf_bytes(texts: list[str]) -> bytes:
    document = FPDF()
    document.set_auto_page_break(auto=True, margin=15)
    document.add_page()
    document.set_font("Helvetica", size=11)
    for body in texts:
        document.multi_cell(0, 6, body)
        document.ln(4)
    return bytes(document.output())


def xlsx_bytes(texts: list[str]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Notes"
    sheet.append(["Item", "Note"])
    for n, body in enumerate(texts, start=1):
        sheet.append([n, body])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def documents() -> list[tuple[str, bytes]]:
    """(filename, bytes): ten facts per format, plus a haystack-only text file."""
    makers = [("facts.txt", txt_bytes), ("handbook.docx", docx_bytes), ("report.pdf", pdf_bytes)]
    makers.append(("register.xlsx", xlsx_bytes))
    out = [(name, make(paragraphs(NEEDLES[n * 10 : (n + 1) * 10], seed=n))) for n, (name, make) in enumerate(makers)]
    rng = random.Random(99)
    out.append(("haystack.txt", txt_bytes([filler_paragraph(rng) for _ in range(60)])))
    return out
