"""Write the small demo corpus shipped with the package: fake patient-portal messages, triaged.

Every name, phone number, email, date and record number is invented here from a fixed seed, so
the demo exercises the PII checks without any real person in it.

    python -m smotext.synth.demo_corpus --out synth/assets/demo_corpus.csv --seed 7 --size 4400

The shipped corpus is large enough that the default policy, which decides on the unsafe end of
each 95% interval, reaches one verdict whatever the seed (benchmarks/results/verdict_stability.md);
``build(seed)`` without a size gives the small 220-text set the tests use.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

FIRST = ["Maria", "James", "Aisha", "Tom", "Elena", "Kwame", "Sofia", "Daniel", "Priya", "Lucas", "Hannah", "Omar",
         "Grace", "Mateo", "Chloe", "Ivan", "Fatima", "Noah", "Yuki", "Ben"]
LAST = ["Garcia", "Okafor", "Lindqvist", "Brennan", "Novak", "Mensah", "Rossi", "Keller", "Sharma", "Dubois",
        "Fischer", "Haddad", "O'Neill", "Moreno", "Tanaka", "Petrov", "Walsh", "Nguyen", "Adams", "Kowalski"]
DRUGS = ["lisinopril", "metformin", "atorvastatin", "sertraline", "levothyroxine", "amoxicillin", "omeprazole",
         "albuterol inhaler", "amlodipine", "ibuprofen"]
SYMPTOMS = ["a persistent cough", "chest tightness", "a rash on my arm", "dizziness when standing up",
            "a fever of 38.5", "sharp pain in my lower back", "swollen ankles", "headaches every morning",
            "shortness of breath on the stairs", "trouble sleeping"]
DOCTORS = ["Dr. Patel", "Dr. Herrera", "Dr. Cohen", "Dr. Mbeki", "Dr. Larsen", "Dr. Ito"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]

TEMPLATES = {
    "appointment": [
        "I need to reschedule my appointment with {doctor} on {date}, can we move it to {day} afternoon?",
        "Please cancel my visit on {date}; I will call back to book a new time.",
        "Can I get an earlier slot with {doctor}? The next opening is weeks away.",
        "This is {name}, I missed my appointment on {date} and would like to book again. Call me at {phone}.",
        "Is there a telehealth option for my follow-up with {doctor} instead of coming in?",
        "I would like to book a yearly check-up, preferably on a {day} morning.",
        "My daughter needs a vaccination appointment before school starts on {date}.",
        "Could you confirm my appointment time for {day}? I did not receive a reminder.",
        "Please move my follow-up to the week after {date}, I am travelling for work.",
        "Hello, {name} here, please book me with {doctor} for a blood pressure check. Email {email} works best.",
    ],
    "prescription": [
        "I am almost out of {drug} and need a refill sent to my pharmacy.",
        "The pharmacy says my {drug} prescription expired, can {doctor} renew it?",
        "Can I switch from {drug} to a generic version to lower the cost?",
        "This is {name} (MRN {mrn}), please refill my {drug}, 30 day supply.",
        "I think {drug} is giving me nausea, should I keep taking it?",
        "My insurance denied the {drug} refill, what are my options?",
        "Please send the {drug} prescription to the pharmacy on Main Street instead of the old one.",
        "I lost my {drug} while travelling, can I get an early refill?",
        "{doctor} said to double my {drug} dose, but the label still shows the old one.",
        "Refill request for {drug} for {name}, date of birth {dob}, phone {phone}.",
    ],
    "billing": [
        "I was charged twice for my visit on {date}, please refund the duplicate payment.",
        "Why does my bill show a lab fee when my insurance should cover it?",
        "I would like to set up a payment plan for my outstanding balance.",
        "My statement lists a visit on {date} that I never had.",
        "This is {name}, account {mrn}, I need an itemised bill sent to {email}.",
        "Can you update my insurance details before the next claim goes out?",
        "I paid my copay at the desk but the bill still says it is due.",
        "The amount on my invoice does not match the estimate I was given.",
        "Please send my receipts for last year to {email} for my tax return.",
        "I got a collections notice for a bill I already paid on {date}; call me at {phone}.",
    ],
    "symptom": [
        "I have had {symptom} for three days and it is getting worse.",
        "Since starting {drug} I noticed {symptom}, is that a side effect?",
        "My son has {symptom} and a sore throat, should we come in today?",
        "This is {name}, I woke up with {symptom}; please call me at {phone}.",
        "Is {symptom} something to worry about after my surgery on {date}?",
        "I keep getting {symptom} after meals, what should I do?",
        "The {symptom} came back after I finished the antibiotics.",
        "I feel {symptom_plain} and tired all the time, can a nurse call me?",
        "My mother, born {dob}, has {symptom} and is confused this morning.",
        "Since {date} I have had {symptom}; over-the-counter medicine is not helping.",
    ],
}
SIZES = {"appointment": 70, "prescription": 60, "billing": 50, "symptom": 40}  # 220 texts; --size scales these
SHIPPED_SIZE = 4400
DEMO_SYNTHETIC = 200  # synthetic texts the demo makes: enough for the near-copy interval to decide (0 of 200 -> <= 0.019)
DEMO_EPSILON = 4.0  # `smotext demo --dp`: the budget strict.yaml accepts
DEMO_TOPIC = "message a patient writes to their clinic through the patient portal"  # public: what the corpus is


def fill(template: str, rng: random.Random) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    symptom = rng.choice(SYMPTOMS)
    return template.format(
        name=f"{first} {last}",
        doctor=rng.choice(DOCTORS),
        drug=rng.choice(DRUGS),
        symptom=symptom,
        symptom_plain=rng.choice(["dizzy", "weak", "nauseous", "short of breath", "feverish"]),
        day=rng.choice(DAYS),
        date=f"{rng.choice(MONTHS)} {rng.randint(1, 28)}",
        dob=f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/{rng.randint(1940, 2005)}",
        phone=f"({rng.randint(201, 989)}) 555-{rng.randint(0, 9999):04d}",
        email=f"{first.lower()}.{last.lower().replace(chr(39), '')}{rng.randint(1, 99)}@example.com",
        mrn=f"{rng.randint(10, 99)}-{rng.randint(100000, 999999)}",
    )


def class_sizes(size: int | None) -> dict[str, int]:
    """Texts per class: SIZES, or SIZES scaled to ``size`` texts in all (same proportions)."""
    if size is None:
        return dict(SIZES)
    if size < 4 * len(SIZES):
        raise ValueError(f"size must be at least {4 * len(SIZES)} (4 texts per class)")
    total = sum(SIZES.values())
    sizes = {k: v * size // total for k, v in SIZES.items()}
    sizes[next(iter(sizes))] += size - sum(sizes.values())
    return sizes


def build(seed: int, size: int | None = None) -> list[tuple[str, str]]:
    """(text, label) rows: ``class_sizes(size)`` per class, templates drawn at random, slots drawn
    from ``seed``; no duplicates."""
    rng = random.Random(seed)
    rows, seen = [], set()
    for label, n in class_sizes(size).items():
        templates = TEMPLATES[label]
        made = 0
        while made < n:
            text = fill(templates[rng.randrange(len(templates))], rng)
            if rng.random() < 0.15:  # some messages carry a sign-off, as real ones do
                text += rng.choice([" Thanks.", " Thank you!", " Regards.", " Please advise."])
            if text not in seen:
                seen.add(text)
                rows.append((text, label))
                made += 1
    rng.shuffle(rows)
    return rows


def demo_corpus_path() -> Path:
    """The demo corpus shipped inside the package (4,400 fake patient-portal messages, 4 classes)."""
    from importlib import resources

    return Path(str(resources.files("smotext.synth") / "assets" / "demo_corpus.csv"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--size", type=int, default=SHIPPED_SIZE, help="texts in all (default: %(default)s, the shipped size)")
    args = ap.parse_args(argv)
    if args.size < 4 * len(SIZES):
        ap.error(f"--size must be at least {4 * len(SIZES)}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(build(args.seed, args.size))


if __name__ == "__main__":
    main()


def demo_options(options: dict) -> dict:
    """A release's settings (by parameter name) as the demo runs them: the shipped corpus; DEMO_SYNTHETIC
    texts unless a count is asked for (``sampling_strategy`` None); no voice adapter unless ``adapt_voice``
    (adapting on its members would take the tour from minutes to many more); with ``dp`` or ``adapt_voice`` the
    demo's budget and with ``dp`` or canaries the corpus's public description, unless others are given."""
    o = dict(options, corpus=str(demo_corpus_path()), text_col="text", label_col=None)
    if o.get("adapt_voice") is None:  # a quick tour: release's default adaptation only when asked for
        o["adapt_voice"] = False
    if o.get("sampling_strategy") is None:
        o["sampling_strategy"] = DEMO_SYNTHETIC
    if o.get("target_epsilon") is None and (o.get("dp") or (o.get("adapt_voice") and o.get("voice_epsilon") is None)):
        o["target_epsilon"] = DEMO_EPSILON
    if o.get("dp"):
        o["topic"] = o.get("topic") or DEMO_TOPIC
    if o.get("canaries"):  # canary starts in the demo corpus's register, from its public description
        o["canary_topic"] = o.get("canary_topic") or o.get("topic") or DEMO_TOPIC
    return o
