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

/// Runs of digits that may be broken by single spaces or hyphens ("943 476 5919"), with
/// whether a `+` led the run.
fn digit_runs(text: &str) -> Vec<(bool, Vec<u8>)> {
    let mut runs = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let plus = chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if !(chars[i].is_ascii_digit() || plus) || (i > 0 && chars[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        if plus {
            i += 1;
        }
        let mut digits = Vec::new();
        while i < chars.len() {
            if let Some(d) = chars[i].to_digit(10) {
                digits.push(u8::try_from(d).unwrap_or(0));
                i += 1;
            } else if matches!(chars[i], ' ' | '-')
                && chars.get(i + 1).is_some_and(char::is_ascii_digit)
            {
                i += 1;
            } else {
                break;
            }
        }
        let glued_to_letter = chars.get(i).is_some_and(|c| c.is_ascii_alphabetic());
        if !glued_to_letter {
            runs.push((plus, digits));
        }
    }
    runs
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

fn is_uk_phone(plus: bool, digits: &[u8]) -> bool {
    if plus {
        digits.len() == 12 && digits[0] == 4 && digits[1] == 4 && digits[2] != 0
    } else {
        (digits.len() == 10 || digits.len() == 11) && digits[0] == 0 && digits[1] != 0
    }
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

/// The kinds of identifier `text` seems to hold, each once.
pub fn identifiers_in(text: &str) -> Vec<IdentifierKind> {
    let mut found = Vec::new();
    for (plus, digits) in digit_runs(text) {
        if !plus && is_nhs_number(&digits) {
            found.push(IdentifierKind::NhsNumber);
        }
        if is_uk_phone(plus, &digits) {
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
        ];
        for (text, expected) in cases {
            assert_eq!(identifiers_in(text), expected.to_vec(), "{text}");
        }
    }
}
