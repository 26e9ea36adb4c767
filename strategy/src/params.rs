//! Named strategy parameters: `--param name=value` and the `[strategy]` table.

use crate::StrategyError;

/// A strategy's named parameters as the user gave them, in order.
///
/// A later value of a name replaces an earlier one, so the config file's
/// `[strategy]` table can come first and `--param` flags override it.
/// Values stay text until the strategy reads them ([`crate::Spec::new`]),
/// which checks names and values against what it has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// No parameters: every one at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `name=value` pairs (`fast=10`).
    pub fn parse<I, S>(pairs: I) -> Result<Self, StrategyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut params = Self::new();
        for pair in pairs {
            let pair = pair.as_ref();
            let (name, value) = pair.split_once('=').ok_or_else(|| StrategyError::Syntax(pair.to_owned()))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(StrategyError::Syntax(pair.to_owned()));
            }
            params.set(name, value.trim());
        }
        Ok(params)
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set(&mut self, name: &str, value: &str) {
        let name = name.replace('_', "-");
        self.pairs.retain(|(n, _)| *n != name);
        self.pairs.push((name, value.to_owned()));
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every `(name, value)` given, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_values_replace_earlier_ones() {
        let params = Params::parse(["fast=5", "slow = 20", "fast=7"]).expect("params");
        assert_eq!(params.get("fast"), Some("7"));
        assert_eq!(params.get("slow"), Some("20"));
        assert_eq!(params.iter().count(), 2);
        assert!(matches!(Params::parse(["fast"]), Err(StrategyError::Syntax(_))));
        assert!(matches!(Params::parse(["=3"]), Err(StrategyError::Syntax(_))));
    }
}
