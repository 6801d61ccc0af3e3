//! Avro decimals: the unscaled value as big-endian two's complement bytes, to and from the exact
//! decimal text (`-12.30` for the bytes of -1230 with scale 2).

/// The most significant bytes a decimal's unscaled value may take (about 308 digits).
pub const MAX_DECIMAL_BYTES: usize = 128;

/// Why a decimal could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    /// More significant bytes than [`MAX_DECIMAL_BYTES`].
    TooLong(usize),
    /// More digits than the declared precision.
    Precision { digits: usize, precision: u32 },
    /// The text is not a decimal number.
    NotANumber,
    /// The text has more fractional digits than the scale keeps.
    Scale(u32),
}

impl std::fmt::Display for DecimalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecimalError::TooLong(n) => write!(
                f,
                "decimal of {n} significant bytes is longer than the limit of {MAX_DECIMAL_BYTES}"
            ),
            DecimalError::Precision { digits, precision } => write!(
                f,
                "decimal of {digits} digits exceeds its precision of {precision}"
            ),
            DecimalError::NotANumber => f.write_str("not a decimal number"),
            DecimalError::Scale(s) => write!(f, "more than {s} digits after the decimal point"),
        }
    }
}

/// Appends the decimal text of `twos` (big-endian two's complement) with `scale` digits after
/// the point; refuses values with more than `precision` digits.
pub fn to_text(
    twos: &[u8],
    scale: u32,
    precision: u32,
    out: &mut String,
) -> Result<(), DecimalError> {
    let negative = twos.first().is_some_and(|b| b & 0x80 != 0);
    // Leading sign-extension bytes carry nothing.
    let pad = if negative { 0xff } else { 0x00 };
    let skip = twos.iter().take_while(|&&b| b == pad).count();
    let significant = twos.len() - skip;
    if significant > MAX_DECIMAL_BYTES {
        return Err(DecimalError::TooLong(significant));
    }
    // Magnitude as little-endian 32-bit limbs.
    let mut limbs: Vec<u32> = Vec::with_capacity(significant / 4 + 2);
    let mut acc: u64 = 0;
    let mut bits = 0;
    let mut carry = 1u64; // for negation: invert and add one
    for &b in twos.iter().rev() {
        let mut byte = u64::from(b);
        if negative {
            byte = (!b as u64 & 0xff) + carry;
            carry = byte >> 8;
            byte &= 0xff;
        }
        acc |= byte << bits;
        bits += 8;
        if bits == 32 {
            limbs.push(acc as u32);
            acc = 0;
            bits = 0;
        }
    }
    if bits > 0 {
        limbs.push(acc as u32);
    }
    if negative && carry == 1 {
        limbs.push(1);
    }
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    // Base 10^9 chunks, least significant first.
    let mut chunks: Vec<u32> = Vec::new();
    while !limbs.is_empty() {
        let mut rem: u64 = 0;
        for l in limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*l);
            *l = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        chunks.push(rem as u32);
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let mut digits = String::with_capacity(chunks.len() * 9 + 2);
    match chunks.split_last() {
        None => digits.push('0'),
        Some((top, rest)) => {
            digits.push_str(&top.to_string());
            for c in rest.iter().rev() {
                digits.push_str(&format!("{c:09}"));
            }
        }
    }
    if digits.len() > precision as usize {
        return Err(DecimalError::Precision {
            digits: digits.len(),
            precision,
        });
    }
    if negative && digits != "0" {
        out.push('-');
    }
    let scale = scale as usize;
    if scale == 0 {
        out.push_str(&digits);
    } else {
        if digits.len() <= scale {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', scale - digits.len()));
            out.push_str(&digits);
        } else {
            let (int, frac) = digits.split_at(digits.len() - scale);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        }
    }
    Ok(())
}

/// The unscaled value of decimal text (`-12.3`, `1e-2`, `42`) at `scale`, as the shortest
/// big-endian two's complement bytes; refuses text with more fractional digits than `scale` or
/// more digits than `precision`.
pub fn from_text(text: &str, scale: u32, precision: u32) -> Result<Vec<u8>, DecimalError> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (
            &rest[..i],
            rest[i + 1..]
                .parse::<i64>()
                .map_err(|_| DecimalError::NotANumber)?,
        ),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(DecimalError::NotANumber);
    }
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    // digits × 10^shift is the unscaled value.
    let shift = exp - frac.len() as i64 + i64::from(scale);
    if shift < 0 {
        let cut = usize::try_from(-shift).unwrap_or(usize::MAX);
        if cut > digits.len() {
            if digits.iter().any(|&d| d != 0) {
                return Err(DecimalError::Scale(scale));
            }
            digits.clear();
        } else {
            if digits[digits.len() - cut..].iter().any(|&d| d != 0) {
                return Err(DecimalError::Scale(scale));
            }
            digits.truncate(digits.len() - cut);
        }
    }
    let first = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
    digits.drain(..first);
    if shift > 0 && !digits.is_empty() {
        let n = usize::try_from(shift).unwrap_or(usize::MAX);
        if n > precision as usize {
            return Err(DecimalError::Precision {
                digits: n,
                precision,
            });
        }
        digits.extend(std::iter::repeat_n(0, n));
    }
    if digits.len() > precision as usize {
        return Err(DecimalError::Precision {
            digits: digits.len(),
            precision,
        });
    }
    // Decimal digits → little-endian 32-bit limbs.
    let mut limbs: Vec<u32> = Vec::new();
    for d in digits {
        let mut carry = u64::from(d);
        for l in limbs.iter_mut() {
            let cur = u64::from(*l) * 10 + carry;
            *l = cur as u32;
            carry = cur >> 32;
        }
        if carry > 0 {
            limbs.push(carry as u32);
        }
    }
    let mut be: Vec<u8> = limbs.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
    let lead = be.iter().take_while(|&&b| b == 0).count();
    be.drain(..lead);
    // Room for the sign bit.
    be.insert(0, 0);
    if negative {
        let mut carry = 1u16;
        for b in be.iter_mut().rev() {
            let v = u16::from(!*b) + carry;
            *b = v as u8;
            carry = v >> 8;
        }
        while be.len() > 1 && be[0] == 0xff && be[1] & 0x80 != 0 {
            be.remove(0);
        }
    } else {
        while be.len() > 1 && be[0] == 0 && be[1] & 0x80 == 0 {
            be.remove(0);
        }
    }
    Ok(be)
}

/// `twos` sign-extended to `size` bytes, or `None` when it does not fit.
pub fn extend_to(twos: &[u8], size: usize) -> Option<Vec<u8>> {
    if twos.len() > size {
        return None;
    }
    let pad = if twos.first().is_some_and(|b| b & 0x80 != 0) {
        0xff
    } else {
        0
    };
    let mut out = vec![pad; size - twos.len()];
    out.extend_from_slice(twos);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &[u8], scale: u32) -> String {
        let mut s = String::new();
        to_text(b, scale, 100, &mut s).unwrap();
        s
    }

    #[test]
    fn known_values() {
        assert_eq!(text(&[0x04, 0xce], 2), "12.30");
        assert_eq!(text(&[0xfb, 0x32], 2), "-12.30");
        assert_eq!(text(&[0x00], 3), "0.000");
        assert_eq!(text(&[], 0), "0");
        assert_eq!(text(&[0xff], 1), "-0.1");
        assert_eq!(text(&[0x80], 0), "-128");
        assert_eq!(text(&[0xff, 0xff, 0x80], 0), "-128");
        assert_eq!(text(&[0x01], 4), "0.0001");
        assert_eq!(from_text("12.3", 2, 10).unwrap(), [0x04, 0xce]);
        assert_eq!(from_text("-12.30", 2, 10).unwrap(), [0xfb, 0x32]);
        assert_eq!(from_text("-128", 0, 10).unwrap(), [0x80]);
        assert_eq!(from_text("128", 0, 10).unwrap(), [0x00, 0x80]);
        assert_eq!(from_text("0", 5, 10).unwrap(), [0x00]);
        assert_eq!(from_text("1.5e-7", 8, 10).unwrap(), [0x0f]);
        assert_eq!(from_text("1e3", 0, 10).unwrap(), [0x03, 0xe8]);
        assert_eq!(from_text("12.345", 2, 10), Err(DecimalError::Scale(2)));
        assert_eq!(
            from_text("123456", 0, 5),
            Err(DecimalError::Precision {
                digits: 6,
                precision: 5
            })
        );
        assert_eq!(from_text("1.2.3", 0, 5), Err(DecimalError::NotANumber));
        assert_eq!(from_text("", 0, 5), Err(DecimalError::NotANumber));
        assert_eq!(
            extend_to(&[0xfb, 0x32], 4).unwrap(),
            [0xff, 0xff, 0xfb, 0x32]
        );
        assert_eq!(extend_to(&[1, 2, 3], 2), None);
        let mut s = String::new();
        assert_eq!(
            to_text(&[0x27, 0x10], 0, 4, &mut s),
            Err(DecimalError::Precision {
                digits: 5,
                precision: 4
            })
        );
        assert_eq!(
            to_text(&[0x7f; 200], 0, 256, &mut s),
            Err(DecimalError::TooLong(200))
        );
    }

    #[test]
    fn round_trips_long_values() {
        for t in [
            "99999999999999999999999999999999999999",
            "-99999999999999999999999999999999999999",
            "1234567890123456789012345678901234567890.123456789",
            "-0.000000000000000000000000000000000001",
            "340282366920938463463374607431768211456",
        ] {
            let scale = t.split_once('.').map_or(0, |(_, f)| f.len() as u32);
            let b = from_text(t, scale, 200).unwrap();
            assert_eq!(text(&b, scale), t);
        }
        for v in [-1_000_000i64, -1, 0, 1, 255, 256, i64::MAX, i64::MIN] {
            let b = from_text(&v.to_string(), 0, 30).unwrap();
            let mut x = extend_to(&b, 8).unwrap();
            assert_eq!(i64::from_be_bytes(x.clone().try_into().unwrap()), v);
            x.clear();
            assert_eq!(text(&b, 0), v.to_string());
        }
    }
}
