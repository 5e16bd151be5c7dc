//! Detectors for personal identifiers in free text (WBK-008): NHS numbers (ten digits
//! whose mod-11 check digit holds), email addresses, UK phone numbers and UK postcodes.
//! They say what kind of identifier they saw, never the identifier.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum IdentifierKind {
    NhsNumber,
    Email,
    Phone,
    Postcode,
}

impl IdentifierKind {
    pub fn describe(self) -> &'static str {
        match self {
            IdentifierKind::NhsNumber => "an NHS number",
            IdentifierKind::Email => "an email address",
            IdentifierKind::Phone => "a phone number",
            IdentifierKind::Postcode => "a postcode",
        }
    }
}

/// Whether ten digits form a valid NHS number (modulus 11, weights 10 to 2).
pub fn is_nhs_number(digits: &[u8]) -> bool {
    if digits.len() != 10 || digits.iter().any(|d| *d > 9) {
        return false;
    }
    let sum: u32 = digits[..9]
        .iter()
        .zip((2..=10).rev())
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    match 11 - (sum % 11) {
        11 => digits[9] == 0,
        10 => false,
        check => u32::from(digits[9]) == check,
    }
}

/// A run of digit groups as written: "0161 496 0066", "(0161) 496-0066",
/// "+44 (0)161 496 0066". Groups are broken by one to three of space, hyphen, dot or
/// bracket; `plus` says whether a `+` led the run.
#[derive(Debug, PartialEq)]
struct DigitRun {
    /// The word just before the run, lower-cased ("order" in "order 4500123456").
    label: String,
    plus: bool,
    groups: Vec<Vec<u8>>,
    /// Whether every break between groups is a single space or hyphen (how an NHS number
    /// is written).
    plain_breaks: bool,
}

const BREAKS: [char; 5] = [' ', '-', '.', '(', ')'];

/// The digit runs of `text` that stand on their own: not glued to a letter or digit
/// before or after.
fn digit_runs(text: &str) -> Vec<DigitRun> {
    let chars: Vec<char> = text.chars().collect();
    let digit_at = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    let mut runs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = if chars[i] == '+' || chars[i] == '(' {
            digit_at(i + 1)
                || (chars[i] == '+' && chars.get(i + 1) == Some(&'(') && digit_at(i + 2))
        } else {
            chars[i].is_ascii_digit()
        };
        if !starts || (i > 0 && chars[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let plus = chars[i] == '+';
        while !chars[i].is_ascii_digit() {
            i += 1;
        }
        let before: String = chars[..i].iter().collect();
        let label = before
            .split(|c: char| !c.is_alphanumeric())
            .rfind(|w| !w.is_empty())
            .unwrap_or("")
            .to_lowercase();
        let mut run = DigitRun {
            label,
            plus,
            groups: vec![Vec::new()],
            plain_breaks: true,
        };
        while i < chars.len() {
            if let Some(d) = chars[i].to_digit(10) {
                if let Some(group) = run.groups.last_mut() {
                    group.push(u8::try_from(d).unwrap_or(0));
                }
                i += 1;
                continue;
            }
            let gap = chars[i..]
                .iter()
                .take(3)
                .take_while(|c| BREAKS.contains(c))
                .count();
            // A break must lead to another digit; a longest break is tried first.
            let Some(len) = (1..=gap).rev().find(|len| digit_at(i + len)) else {
                break;
            };
            if len > 1 || !matches!(chars[i], ' ' | '-') {
                run.plain_breaks = false;
            }
            run.groups.push(Vec::new());
            i += len;
        }
        let glued = chars.get(i).is_some_and(|c| c.is_ascii_alphabetic());
        if !glued {
            runs.push(run);
        }
    }
    runs
}

/// Whether groups written one after another form a UK phone number: after an
/// international prefix (`+44` or `0044`, with or without the trunk "(0)"), ten or eleven
/// digits starting 0 and then not 0, the first group an area or mobile code of 3 to 6
/// digits (or the whole number unbroken), every later group at least 3 digits (which tells
/// a number from a date such as 01-04-2025).
fn is_uk_phone(plus: bool, groups: &[Vec<u8>]) -> bool {
    let mut groups: Vec<Vec<u8>> = groups.to_vec();
    let international = match groups.first() {
        Some(first) if plus => first.starts_with(&[4, 4]),
        Some(first) => first.starts_with(&[0, 0, 4, 4]),
        None => false,
    };
    if plus && !international {
        return false;
    }
    if international {
        let prefix = if plus { 2 } else { 4 };
        groups[0].drain(..prefix);
        if groups[0].is_empty() {
            groups.remove(0);
        }
        // "+44 (0)161 …": the trunk 0 is written, bracketed, in a group of its own.
        if groups.first().is_some_and(|g| g.as_slice() == [0]) {
            groups.remove(0);
        }
        match groups.first_mut() {
            Some(first) if first.first() != Some(&0) => first.insert(0, 0),
            Some(_) => {}
            None => return false,
        }
    }
    let digits: usize = groups.iter().map(Vec::len).sum();
    let national: Vec<u8> = groups.concat();
    let shaped = match groups.as_slice() {
        [_] => true,
        [first, rest @ ..] => (3..=6).contains(&first.len()) && rest.iter().all(|g| g.len() >= 3),
        [] => false,
    };
    (10..=11).contains(&digits) && national[0] == 0 && national[1] != 0 && shaped
}

/// Whether any stretch of a run's groups is a UK phone number ("call 0161 496 0066 10
/// times" holds one).
fn run_holds_phone(run: &DigitRun) -> bool {
    let n = run.groups.len();
    (0..n).any(|start| {
        (start + 1..=n).any(|end| is_uk_phone(run.plus && start == 0, &run.groups[start..end]))
    })
}

fn is_email(token: &str) -> bool {
    let token = token.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let Some((local, domain)) = token.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// A UK postcode's outward code: A9, A99, AA9, AA99, A9A or AA9A.
fn is_outward(code: &[u8]) -> bool {
    let a = |c: u8| c.is_ascii_uppercase();
    let n = |c: u8| c.is_ascii_digit();
    match code {
        [x, y] => a(*x) && n(*y),
        [x, y, z] => a(*x) && ((n(*y) && (n(*z) || a(*z))) || (a(*y) && n(*z))),
        [w, x, y, z] => a(*w) && a(*x) && n(*y) && (n(*z) || a(*z)),
        _ => false,
    }
}

/// The inward code: 9AA.
fn is_inward(code: &[u8]) -> bool {
    matches!(code, [d, x, y] if d.is_ascii_digit() && x.is_ascii_uppercase() && y.is_ascii_uppercase())
}

fn has_postcode(text: &str) -> bool {
    let tokens: Vec<String> = text
        .split_whitespace()
        .map(|t| {
            t.trim_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_ascii_uppercase()
        })
        .collect();
    tokens.iter().enumerate().any(|(i, token)| {
        let bytes = token.as_bytes();
        let joined = bytes.len() >= 5
            && bytes.len() <= 7
            && is_outward(&bytes[..bytes.len() - 3])
            && is_inward(&bytes[bytes.len() - 3..]);
        let split = is_outward(bytes)
            && tokens
                .get(i + 1)
                .is_some_and(|next| is_inward(next.as_bytes()));
        joined || split
    })
}

/// Words after which ten digits are an order, invoice or account number, not an NHS number
/// (one ten-digit number in eleven passes the NHS check digit by chance).
const ORDER_LABELS: [&str; 10] = [
    "order",
    "po",
    "invoice",
    "inv",
    "ref",
    "reference",
    "account",
    "acc",
    "requisition",
    "receipt",
];

/// The kinds of identifier `text` seems to hold, each once.
pub fn identifiers_in(text: &str) -> Vec<IdentifierKind> {
    let mut found = Vec::new();
    for run in digit_runs(text) {
        if !run.plus
            && run.plain_breaks
            && !ORDER_LABELS.contains(&run.label.as_str())
            && is_nhs_number(&run.groups.concat())
        {
            found.push(IdentifierKind::NhsNumber);
        }
        if run_holds_phone(&run) {
            found.push(IdentifierKind::Phone);
        }
    }
    if text.split_whitespace().any(is_email) {
        found.push(IdentifierKind::Email);
    }
    if has_postcode(text) {
        found.push(IdentifierKind::Postcode);
    }
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated corpus in `tests/corpus` (made by `make_identifier_corpus.py` there):
    /// at least 99 % of the phone numbers in every common written form are found, and
    /// not one clean sentence of dates, money, times and invoice numbers is flagged.
    #[test]
    fn phone_numbers_in_the_corpus() {
        let phones = include_str!("../../../tests/corpus/phones.txt");
        let clean = include_str!("../../../tests/corpus/clean.txt");
        let missed: Vec<&str> = phones
            .lines()
            .filter(|l| !identifiers_in(l).contains(&IdentifierKind::Phone))
            .collect();
        let flagged: Vec<(&str, Vec<IdentifierKind>)> = clean
            .lines()
            .map(|l| (l, identifiers_in(l)))
            .filter(|(_, found)| !found.is_empty())
            .collect();
        let (numbers, sentences) = (phones.lines().count(), clean.lines().count());
        let found_pct = 100.0 * (numbers - missed.len()) as f64 / numbers as f64;
        println!(
            "phone numbers found: {} of {numbers} ({found_pct:.2} %); clean sentences flagged: {} of {sentences}",
            numbers - missed.len(),
            flagged.len()
        );
        assert!(numbers >= 1_000 && sentences >= 1_000);
        assert!(found_pct >= 99.0, "missed: {missed:#?}");
        assert!(flagged.is_empty(), "false positives: {flagged:#?}");
    }

    fn digits(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn nhs_check_digit() {
        // Valid check digits.
        for valid in ["9434765919", "4010232137", "9876543210"] {
            assert!(is_nhs_number(&digits(valid)), "{valid}");
        }
        // One digit off, a check digit of 10, or the wrong length.
        for invalid in ["9434765918", "4010232138", "1234567890", "943476591"] {
            assert!(!is_nhs_number(&digits(invalid)), "{invalid}");
        }
    }

    #[test]
    fn detects_each_kind_without_false_alarms() {
        use IdentifierKind::*;
        let cases: &[(&str, &[IdentifierKind])] = &[
            ("Her NHS number is 943 476 5919.", &[NhsNumber]),
            ("NHS 943-476-5919", &[NhsNumber]),
            ("ref 943 476 5918 is not valid", &[]),
            ("email jo.bloggs@example.org today", &[Email]),
            ("call 07700 900123 after lunch", &[Phone]),
            ("call +44 7700 900123", &[Phone]),
            ("lives at NG1 5DT now", &[Postcode]),
            ("lives at sw1a1aa", &[Postcode]),
            (
                "The group of 12 went to the park in 2025 and met 3 friends.",
                &[],
            ),
            ("Raised £1,250 for the club; 45 minutes of walking", &[]),
            ("room B12 and code A1", &[]),
            ("Tel: (0161) 496 0066", &[Phone]),
            ("mobile (07700) 900 829 or", &[Phone]),
            ("+44 (0)161 496 0066", &[Phone]),
            ("+44 (0) 20 7946 0958", &[Phone]),
            ("+44(0)2079460958", &[Phone]),
            ("0044 7700 900829", &[Phone]),
            ("0161.496.0066", &[Phone]),
            ("call 0161 496 0066 10 times", &[Phone]),
            ("(020 7946 0958)", &[Phone]),
            ("on 01-04-2025 10 people came", &[]),
            ("on 01.04.2025 at 10.30", &[]),
            ("from 09:00 to 16:00 on 01 04 2025", &[]),
            ("invoice INV-2025-00123 for £1,250.00", &[]),
            ("order 4500123456 of 12 items", &[]),
            ("Purchase order 4500184880 covers 157 sessions", &[]),
            ("NHS no. 4500184880", &[NhsNumber]),
            ("a US number +1 202 555 0100", &[]),
        ];
        for (text, expected) in cases {
            assert_eq!(identifiers_in(text), expected.to_vec(), "{text}");
        }
    }
}
