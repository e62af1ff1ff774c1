//! Simulated time: [`SimTime`] (an instant) and [`SimDuration`] (a span), both integer
//! nanoseconds in a `u64` (584 years of range), as ns-3 and smoltcp keep time.
//!
//! Arithmetic that can overflow exists in two forms: `checked_*` returning `Option`, and the
//! operators, which panic — an overflow there is a broken invariant, not a user error.
//! Durations parse from the strings people write in scenario files and Kubernetes configs
//! (`200us`, `1.5s`, `2m30s`, `100ns`, `1µs`) with exact integer arithmetic, never floats.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::str::FromStr;

/// An instant on the simulation clock, in nanoseconds since the start of the run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(u64);

/// A span of simulated time, in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDuration(u64);

const NS_PER_US: u64 = 1_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The last representable instant.
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub const fn from_nanos(ns: u64) -> Self {
        SimTime(ns)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// `self + d`, or `None` past [`SimTime::MAX`].
    pub fn checked_add(self, d: SimDuration) -> Option<SimTime> {
        self.0.checked_add(d.0).map(SimTime)
    }
    /// `self - d`, or `None` before time zero.
    pub fn checked_sub(self, d: SimDuration) -> Option<SimTime> {
        self.0.checked_sub(d.0).map(SimTime)
    }
    /// The span from `earlier` to `self`, or `None` if `earlier` is later.
    pub fn checked_duration_since(self, earlier: SimTime) -> Option<SimDuration> {
        self.0.checked_sub(earlier.0).map(SimDuration)
    }
    /// The span from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    pub const fn from_nanos(ns: u64) -> Self {
        SimDuration(ns)
    }
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us * NS_PER_US)
    }
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms * NS_PER_MS)
    }
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s * NS_PER_S)
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub fn checked_add(self, other: SimDuration) -> Option<SimDuration> {
        self.0.checked_add(other.0).map(SimDuration)
    }
    pub fn checked_sub(self, other: SimDuration) -> Option<SimDuration> {
        self.0.checked_sub(other.0).map(SimDuration)
    }
    pub fn checked_mul(self, n: u64) -> Option<SimDuration> {
        self.0.checked_mul(n).map(SimDuration)
    }
    pub fn saturating_mul(self, n: u64) -> SimDuration {
        SimDuration(self.0.saturating_mul(n))
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        self.checked_add(d)
            .unwrap_or_else(|| panic!("simulated time overflow: {self} + {d}"))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.checked_duration_since(earlier)
            .unwrap_or_else(|| panic!("negative simulated duration: {self} - {earlier}"))
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, other: SimDuration) -> SimDuration {
        self.checked_add(other)
            .unwrap_or_else(|| panic!("simulated duration overflow: {self} + {other}"))
    }
}

/// Writes `ns` nanoseconds in the largest unit that keeps it at least 1, with three decimals:
/// `750ns`, `12.500us`, `1.250ms`, `3.000s`.
fn fmt_nanos(ns: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (unit, div) = if ns >= NS_PER_S {
        ("s", NS_PER_S)
    } else if ns >= NS_PER_MS {
        ("ms", NS_PER_MS)
    } else if ns >= NS_PER_US {
        ("us", NS_PER_US)
    } else {
        return write!(f, "{ns}ns");
    };
    // Three decimals, rounded half up, computed in integers.
    let milli_units = (u128::from(ns) * 1000 + u128::from(div) / 2) / u128::from(div);
    write!(f, "{}.{:03}{unit}", milli_units / 1000, milli_units % 1000)
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_nanos(self.0, f)
    }
}
impl fmt::Debug for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimTime({self})")
    }
}
impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_nanos(self.0, f)
    }
}
impl fmt::Debug for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimDuration({self})")
    }
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDurationError {
    #[error("empty duration; expected a number with a unit such as 200us, 1.5s or 2m30s")]
    Empty,
    #[error("invalid duration {input:?} at byte {at}: expected {expected}")]
    Invalid {
        input: String,
        at: usize,
        expected: &'static str,
    },
    #[error("duration {input:?} is out of range (at most about 584 years)")]
    Overflow { input: String },
    #[error("duration {input:?} has more precision than a nanosecond; write it in a smaller unit")]
    SubNanosecond { input: String },
}

/// Units accepted in duration strings, longest first so `ms` wins over `m`.
const UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", NS_PER_US),
    ("µs", NS_PER_US),
    ("μs", NS_PER_US),
    ("ms", NS_PER_MS),
    ("s", NS_PER_S),
    ("m", 60 * NS_PER_S),
    ("h", 3600 * NS_PER_S),
];

impl FromStr for SimDuration {
    type Err = ParseDurationError;

    /// Parses Go-style durations (`300ms`, `1.5h`, `2h45m`, `1µs`): one or more
    /// `<decimal><unit>` terms, summed. A bare `0` is zero; any other number needs a unit.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ParseDurationError::Empty);
        }
        if s == "0" {
            return Ok(SimDuration::ZERO);
        }
        let invalid = |at: usize, expected| ParseDurationError::Invalid {
            input: input.to_string(),
            at,
            expected,
        };
        let overflow = || ParseDurationError::Overflow {
            input: input.to_string(),
        };
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut total: u64 = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let int_part = &s[start..i];
            let mut frac_part = "";
            if i < bytes.len() && bytes[i] == b'.' {
                i += 1;
                let fs = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                frac_part = &s[fs..i];
            }
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(invalid(start, "a number"));
            }
            let rest = &s[i..];
            let Some(&(unit, scale)) = UNITS
                .iter()
                .filter(|(u, _)| rest.starts_with(u))
                .max_by_key(|(u, _)| u.len())
            else {
                return Err(invalid(i, "a unit: ns, us, µs, ms, s, m or h"));
            };
            i += unit.len();
            let int_val: u64 = if int_part.is_empty() {
                0
            } else {
                int_part.parse().map_err(|_| overflow())?
            };
            let mut term = int_val.checked_mul(scale).ok_or_else(overflow)?;
            // The fraction, exactly: frac_digits / 10^len * scale must be whole nanoseconds.
            if !frac_part.is_empty() {
                let digits = frac_part.trim_end_matches('0');
                if digits.len() > 18 {
                    return Err(ParseDurationError::SubNanosecond {
                        input: input.to_string(),
                    });
                }
                if !digits.is_empty() {
                    let num: u128 = digits.parse().map_err(|_| overflow())?;
                    let den: u128 = 10u128.pow(digits.len() as u32);
                    let scaled = num * u128::from(scale);
                    if !scaled.is_multiple_of(den) {
                        return Err(ParseDurationError::SubNanosecond {
                            input: input.to_string(),
                        });
                    }
                    let frac_ns = u64::try_from(scaled / den).map_err(|_| overflow())?;
                    term = term.checked_add(frac_ns).ok_or_else(overflow)?;
                }
            }
            total = total.checked_add(term).ok_or_else(overflow)?;
        }
        Ok(SimDuration(total))
    }
}

impl serde::Serialize for SimDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SimDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_picks_unit_and_three_decimals() {
        assert_eq!(SimDuration::from_nanos(0).to_string(), "0ns");
        assert_eq!(SimDuration::from_nanos(750).to_string(), "750ns");
        assert_eq!(SimDuration::from_nanos(12_500).to_string(), "12.500us");
        assert_eq!(SimDuration::from_micros(1250).to_string(), "1.250ms");
        assert_eq!(SimTime::from_nanos(3 * NS_PER_S).to_string(), "3.000s");
        assert_eq!(SimDuration::from_nanos(1_999_999).to_string(), "2.000ms");
        assert_eq!(SimDuration::from_nanos(1_000_400).to_string(), "1.000ms");
        assert_eq!(format!("{:?}", SimTime::from_nanos(5)), "SimTime(5ns)");
    }

    #[test]
    fn parse_go_style_durations() {
        let p = |s: &str| s.parse::<SimDuration>().map(|d| d.as_nanos());
        assert_eq!(p("200us"), Ok(200_000));
        assert_eq!(p("1µs"), Ok(1_000));
        assert_eq!(p("1.5s"), Ok(1_500_000_000));
        assert_eq!(p("2m30s"), Ok(150 * NS_PER_S));
        assert_eq!(p("1h"), Ok(3600 * NS_PER_S));
        assert_eq!(p("500ms"), Ok(500 * NS_PER_MS));
        assert_eq!(p(".5ms"), Ok(500_000));
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p(" 3ns "), Ok(3));
    }

    #[test]
    fn parse_rejects_nonsense_with_position() {
        assert_eq!("".parse::<SimDuration>(), Err(ParseDurationError::Empty));
        let e = "10".parse::<SimDuration>().unwrap_err();
        assert!(
            matches!(e, ParseDurationError::Invalid { at: 2, .. }),
            "{e}"
        );
        let e = "10parsecs".parse::<SimDuration>().unwrap_err();
        assert!(e.to_string().contains("at byte 2"), "{e}");
        let e = "ms".parse::<SimDuration>().unwrap_err();
        assert!(matches!(e, ParseDurationError::Invalid { at: 0, .. }));
        assert!(matches!(
            "1.5ns".parse::<SimDuration>(),
            Err(ParseDurationError::SubNanosecond { .. })
        ));
        assert!(matches!(
            "99999999999h".parse::<SimDuration>(),
            Err(ParseDurationError::Overflow { .. })
        ));
    }

    #[test]
    fn checked_arithmetic_refuses_overflow() {
        assert_eq!(SimTime::MAX.checked_add(SimDuration::from_nanos(1)), None);
        assert_eq!(SimTime::ZERO.checked_sub(SimDuration::from_nanos(1)), None);
        assert_eq!(
            SimTime::from_nanos(5).checked_duration_since(SimTime::from_nanos(7)),
            None
        );
        assert_eq!(
            SimTime::from_nanos(5).saturating_duration_since(SimTime::from_nanos(7)),
            SimDuration::ZERO
        );
        assert_eq!(SimDuration::MAX.checked_mul(2), None);
        assert_eq!(
            SimTime::from_nanos(10) - SimTime::from_nanos(4),
            SimDuration::from_nanos(6)
        );
    }

    #[test]
    #[should_panic(expected = "simulated time overflow")]
    fn operator_overflow_is_an_invariant_violation() {
        let _ = SimTime::MAX + SimDuration::from_nanos(1);
    }

    proptest! {
        #[test]
        fn display_then_parse_is_within_rounding(ns in 0u64..1_000_000_000_000_000) {
            let d = SimDuration::from_nanos(ns);
            let back: SimDuration = d.to_string().parse().unwrap();
            // Three decimals in the chosen unit: error at most half of 1/1000 of that unit.
            let unit = if ns >= NS_PER_S { NS_PER_S } else if ns >= NS_PER_MS { NS_PER_MS }
                       else if ns >= NS_PER_US { NS_PER_US } else { 1 };
            let tol = unit / 2000;
            prop_assert!(back.as_nanos().abs_diff(ns) <= tol, "{} -> {}", ns, back.as_nanos());
        }

        #[test]
        fn whole_nanosecond_strings_round_trip(ns in 0u64..u64::MAX / 2) {
            let s = format!("{ns}ns");
            prop_assert_eq!(s.parse::<SimDuration>().unwrap().as_nanos(), ns);
        }
    }
}
