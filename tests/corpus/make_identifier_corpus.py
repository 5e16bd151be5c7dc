#!/usr/bin/env python3
"""Makes the corpus that measures WBK-008's phone-number detector.

phones.txt: one sentence a line, each holding one UK phone number written in one of the
common ways (national, bracketed area code, +44 with and without "(0)", 0044, hyphens,
dots, no spaces), numbers from Ofcom's ranges reserved for drama and examples.
clean.txt: one sentence a line holding no personal identifier, but the dates, times,
money, counts and invoice or order numbers that a provider's free text is full of.

Deterministic (seeded): run it again and the files come out the same.
    python3 tests/corpus/make_identifier_corpus.py
"""
import random
from pathlib import Path

random.seed(20261202)
HERE = Path(__file__).parent

# (area code without the leading 0, first digits of the local number, local length)
RANGES = [
    ("20", "79460", 8), ("113", "4960", 7), ("114", "4960", 7), ("115", "4960", 7),
    ("116", "4960", 7), ("117", "4960", 7), ("118", "4960", 7), ("121", "4960", 7),
    ("131", "4960", 7), ("141", "4960", 7), ("151", "4960", 7), ("161", "4960", 7),
    ("191", "4980", 7), ("28", "96496", 8), ("29", "20180", 8), ("1632", "960", 6),
    ("7700", "900", 6), ("808", "1570", 7), ("909", "8790", 7), ("306", "9990", 7),
]


def number():
    area, prefix, length = random.choice(RANGES)
    local = prefix + "".join(random.choice("0123456789") for _ in range(length - len(prefix)))
    return area, local


def split_local(local):
    """The local number as it is usually grouped: 8 digits 4+4, 7 digits 3+4, 6 digits 3+3."""
    if len(local) == 8:
        return [local[:4], local[4:]]
    if len(local) == 7:
        return [local[:3], local[3:]]
    return [local[:3], local[3:]] if random.random() < 0.5 else [local]


FORMS = [
    lambda a, l: " ".join(["0" + a] + split_local(l)),
    lambda a, l: "0" + a + l,
    lambda a, l: "-".join(["0" + a] + split_local(l)),
    lambda a, l: "(0" + a + ") " + " ".join(split_local(l)),
    lambda a, l: "(0" + a + ")" + l,
    lambda a, l: "(0" + a + ") " + l,
    lambda a, l: "+44 " + " ".join([a] + split_local(l)),
    lambda a, l: "+44 (0)" + " ".join([a] + split_local(l)),
    lambda a, l: "+44 (0) " + " ".join([a] + split_local(l)),
    lambda a, l: "+44(0)" + a + l,
    lambda a, l: "+44" + a + l,
    lambda a, l: "+44-" + "-".join([a] + split_local(l)),
    lambda a, l: "0044 " + " ".join([a] + split_local(l)),
    lambda a, l: ".".join(["0" + a] + split_local(l)),
]

PHONE_SENTENCES = [
    "Call her daughter on {n} if she is unwell.",
    "Tel: {n}",
    "tel.{n} (evenings only)",
    "Mobile:{n}",
    "Her key worker's number is {n}.",
    "{n} is the best number for the family.",
    "We rang {n} twice but there was no answer.",
    "Contact (the carer): {n}, after 5pm.",
    "Next of kin ({n}) was informed on the day.",
    "If the transport is late, phone {n}",
    "He gave us a new number - {n} - for his brother.",
    "Emergency contact {n}; GP surgery informed.",
]

CLEAN = [
    "On {date} {count} people attended the allotment group.",
    "The session ran from {time} to {time2} on {date}.",
    "Invoice {inv} for {money} was sent on {date}.",
    "We raised {money} at the summer fair, {count} volunteers helped.",
    "Purchase order {po} covers {count} sessions at {money} each.",
    "Staff FTE rose to {fte} in {quarter}; {count} leavers.",
    "The minibus did {count} journeys ({miles} miles) in week {week}.",
    "Between {date} and {date2} attendance averaged {pct}%.",
    "Budget {money} against a forecast of {money2} for {year}.",
    "{count} of {count2} people reached a life goal this quarter.",
    "Room {room} was closed from {time} on {date}.",
    "CQC location {cqc} was inspected on {date}; rated good.",
    "Meals served: {count}; one-to-one hours: {hours}; {count2} trips.",
    "Ref {ref} - {count} hours of support at {money} an hour.",
    "Cohort {year} ran {count} twelve-week programmes, {count2} completed.",
]


def date():
    d, m, y = random.randint(1, 28), random.randint(1, 12), random.choice([2024, 2025, 2026])
    return random.choice([
        f"{d:02d}/{m:02d}/{y}", f"{d}/{m}/{y % 100:02d}", f"{y}-{m:02d}-{d:02d}",
        f"{d:02d}-{m:02d}-{y}", f"{d:02d}.{m:02d}.{y}", f"{d} {['January', 'March', 'June', 'October'][m % 4]} {y}",
        f"{d:02d} {m:02d} {y}", f"{d}.{m}.{y % 100:02d}",
    ])


def time():
    h, mi = random.randint(8, 20), random.choice([0, 15, 30, 45])
    return random.choice([f"{h:02d}:{mi:02d}", f"{h}.{mi:02d}", f"{h % 12 or 12}.{mi:02d}pm", f"{h:02d}{mi:02d}"])


def money():
    pence = random.randint(100, 900_000_000)
    return random.choice([
        f"£{pence / 100:,.2f}", f"£{pence // 100:,}", f"£{pence / 100_000_000:.3f}m", f"£{pence // 100}",
    ])


def clean_sentence():
    values = {
        "date": date(), "date2": date(), "time": time(), "time2": time(),
        "count": random.randint(0, 250), "count2": random.randint(1, 400),
        "money": money(), "money2": money(),
        "inv": random.choice([f"INV-{random.randint(2024, 2026)}-{random.randint(1, 99999):05d}",
                              f"{random.randint(1, 999999):06d}", f"INV{random.randint(1, 9999999):07d}"]),
        "po": random.choice([f"PO-{random.randint(10000, 99999)}", f"4500{random.randint(0, 999999):06d}"]),
        "fte": f"{random.randint(1, 40)}.{random.choice([0, 25, 5, 75])}",
        "quarter": f"{random.randint(2024, 2026)}-Q{random.randint(1, 4)}",
        "miles": random.randint(10, 2000), "week": random.randint(1, 52),
        "pct": random.randint(0, 100), "year": f"{random.randint(2024, 2026)}/{random.randint(25, 27)}",
        "room": random.choice(["B12", "101", "3", "2.14"]),
        "cqc": f"1-{random.randint(100000000, 9999999999)}",
        "hours": random.choice(["1.5", "2.25", "0.75", "12"]),
        "ref": f"{random.randint(2024, 2026)}/{random.randint(1, 9999):04d}",
    }
    return random.choice(CLEAN).format(**values)


def main():
    phones = []
    for i in range(1400):
        area, local = number()
        form = FORMS[i % len(FORMS)]
        phones.append(random.choice(PHONE_SENTENCES).format(n=form(area, local)))
    clean = [clean_sentence() for _ in range(1400)]
    (HERE / "phones.txt").write_text("\n".join(phones) + "\n")
    (HERE / "clean.txt").write_text("\n".join(clean) + "\n")


if __name__ == "__main__":
    main()
