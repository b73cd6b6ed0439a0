//! Slurm's time-limit forms (`sbatch --time`): `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`.

/// The time limit in seconds, or `None` when `text` is not one of Slurm's forms.
pub fn parse_time_limit(text: &str) -> Option<u64> {
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    let (days, rest) = match text.split_once('-') {
        Some((d, rest)) => (Some(num(d)?), rest),
        None => (None, text),
    };
    let parts: Vec<u64> = rest.split(':').map(num).collect::<Option<_>>()?;
    let seconds = match (days, parts.as_slice()) {
        (None, [m]) => m * 60,
        (None, [m, s]) => m * 60 + s,
        (None, [h, m, s]) => h * 3600 + m * 60 + s,
        (Some(d), [h]) => d * 86400 + h * 3600,
        (Some(d), [h, m]) => d * 86400 + h * 3600 + m * 60,
        (Some(d), [h, m, s]) => d * 86400 + h * 3600 + m * 60 + s,
        _ => return None,
    };
    Some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_time_forms() {
        assert_eq!(parse_time_limit("90"), Some(5400));
        assert_eq!(parse_time_limit("2:30"), Some(150));
        assert_eq!(parse_time_limit("4:00:00"), Some(14400));
        assert_eq!(parse_time_limit("1-12"), Some(129600));
        assert_eq!(parse_time_limit("1-0:30"), Some(88200));
        assert_eq!(parse_time_limit("2-01:00:05"), Some(176405));
        for bad in ["", "4h", "1:2:3:4", "-5", "1-", "1-2:3:4:5", " 60", "1.5"] {
            assert_eq!(parse_time_limit(bad), None, "{bad:?}");
        }
    }
}
