//! Settings from environment variables, as both functions read them at cold start: values
//! trimmed, an empty one as unset, every malformed one an error naming its variable.

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::str::FromStr;

use thiserror::Error;

/// A setting is missing or malformed; the function cannot start.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {var}: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// Settings read through a lookup: the process environment, or a map in tests.
pub struct Settings<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    pub fn new(lookup: F) -> Self {
        Settings { lookup }
    }

    /// The trimmed value of `var`; `None` when it is unset or blank.
    pub fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.get(var).ok_or(ConfigError::Missing(var))
    }

    /// `var` read by `parse` (which says what is wrong with a value), or `default` when unset.
    pub fn parsed<T>(
        &self,
        var: &'static str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => parse(&v).map_err(|reason| ConfigError::Invalid { var, reason }),
        }
    }

    /// A number within `range`, or `default` when unset.
    pub fn number<T, R>(&self, var: &'static str, default: T, range: R) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd,
        R: RangeBounds<T> + Debug,
    {
        self.parsed(var, default, |v| {
            v.parse::<T>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| format!("{v:?} is not a number in {range:?}"))
        })
    }

    /// `true`/`false` (or `1`/`0`, `yes`/`no`, `on`/`off`, in any case); `false` when unset.
    pub fn flag(&self, var: &'static str) -> Result<bool, ConfigError> {
        self.parsed(var, false, |v| match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(format!("{v:?} is not true or false")),
        })
    }
}

#[cfg(feature = "aws")]
impl<F: Fn(&str) -> Option<String>> Settings<F> {
    /// The roots TLS connections trust ([`TrustStore::VAR`]; `aws` when unset).
    pub fn trust_store(&self) -> Result<crate::aws::TrustStore, ConfigError> {
        use crate::aws::TrustStore;
        self.parsed(TrustStore::VAR, TrustStore::default(), |v| {
            TrustStore::parse(Some(v))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings<impl Fn(&str) -> Option<String>> {
        Settings::new(crate::testing::lookup(vars))
    }

    #[test]
    fn values_are_trimmed_and_blank_is_unset() {
        let s = settings(&[("A", "  x "), ("B", "   ")]);
        assert_eq!(s.get("A").as_deref(), Some("x"));
        assert_eq!(s.get("B"), None);
        assert_eq!(s.required("B"), Err(ConfigError::Missing("B")));
        assert_eq!(s.required("A").as_deref(), Ok("x"));
    }

    #[test]
    fn numbers_and_flags_name_their_variable_when_malformed() {
        let s = settings(&[
            ("N", "5"),
            ("LOW", "0"),
            ("HIGH", "11"),
            ("F", "Yes"),
            ("G", "maybe"),
        ]);
        assert_eq!(s.number("N", 1usize, 1..), Ok(5));
        assert_eq!(s.number("UNSET", 7u64, 1..=10), Ok(7));
        assert_eq!(
            s.number("LOW", 1usize, 1..),
            Err(ConfigError::Invalid {
                var: "LOW",
                reason: "\"0\" is not a number in 1..".into()
            })
        );
        assert_eq!(
            s.number("HIGH", 1u64, 1..=10),
            Err(ConfigError::Invalid {
                var: "HIGH",
                reason: "\"11\" is not a number in 1..=10".into()
            })
        );
        assert_eq!(s.flag("F"), Ok(true));
        assert_eq!(s.flag("UNSET"), Ok(false));
        assert!(matches!(
            s.flag("G"),
            Err(ConfigError::Invalid { var: "G", .. })
        ));
    }

    #[cfg(feature = "aws")]
    #[test]
    fn trust_store_defaults_to_aws_and_refuses_others() {
        use crate::aws::TrustStore;
        let store = |vars| settings(vars).trust_store();
        assert_eq!(store(&[]), Ok(TrustStore::Aws));
        assert_eq!(store(&[("TLS_TRUST_STORE", " ")]), Ok(TrustStore::Aws));
        assert_eq!(
            store(&[("TLS_TRUST_STORE", "system")]),
            Ok(TrustStore::System)
        );
        assert!(matches!(
            store(&[("TLS_TRUST_STORE", "native")]),
            Err(ConfigError::Invalid {
                var: "TLS_TRUST_STORE",
                ..
            })
        ));
    }
}
